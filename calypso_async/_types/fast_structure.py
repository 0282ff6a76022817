"""Straight-line structuring functions for the models, compiled from the converter's hooks.

cattrs' generated function calls one hook per field, collects a dict and passes it as
``**kwargs``. For the ``Invoice`` read on every poll that was the SDK's largest cost beyond
a raw dict. The function compiled here reads each key once, keeps a value that already
has exactly the field's type, finds an enum member with one lookup in the enum's own
value map, calls the converter's own hook for anything else, and builds the model with
positional arguments.

It is a fast path only: it raises on anything unusual (a missing required key, a value
a hook refuses, an unhashable enum value) and the caller then runs cattrs, whose errors
say precisely what is wrong. The test suite checks that both agree on arbitrary input.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any, Union, get_args, get_origin, get_type_hints

import attrs

__all__ = ["compile_structure"]

_MISSING = object()


def _optional_inner(type_: Any) -> Any | None:
    args = get_args(type_)
    if get_origin(type_) in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return next(arg for arg in args if arg is not type(None))
    return None


def compile_structure(
    cls: type[Any],
    hook_for: Callable[[Any], Callable[[Any, Any], Any]],
    kept_types: Collection[type],
    wire_name: Callable[[str], str],
) -> Callable[[Any], Any] | None:
    """Compile ``structure(mapping) -> cls`` for an attrs class, or ``None`` if unsupported.

    Args:
        cls: The model. A field named ``raw`` receives the mapping itself.
        hook_for: The converter's structure hook for a type.
        kept_types: Types whose hook returns a value of exactly that type unchanged.
        wire_name: The JSON key of a field.
    """
    hints = get_type_hints(cls)
    namespace: dict[str, Any] = {"cls": cls, "MISSING": _MISSING}
    lines = ["def structure(o):", "    get = o.get"]
    arguments: list[str] = []
    for index, field in enumerate(attrs.fields(cls)):
        if field.name == "raw":
            if not field.kw_only:
                return None
            continue
        if field.kw_only or not field.init:
            return None
        value, type_ = f"v{index}", hints[field.name]
        inner = _optional_inner(type_)
        target = type_ if inner is None else inner
        namespace[f"h{index}"], namespace[f"t{index}"] = hook_for(target), target
        convert = f"h{index}({value}, t{index})"
        if isinstance(target, type) and issubclass(target, enum.Enum):
            namespace[f"m{index}"] = target._value2member_map_
            convert = f"m{index}.get({value}) or {convert}"
        key = repr(wire_name(field.name))
        if inner is not None and field.default is None:
            lines.append(f"    {value} = get({key})")
            test = f"{value} is not None"
        elif field.default is attrs.NOTHING:
            lines.append(f"    {value} = o[{key}]")
            test = ""
        else:
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                if default.takes_self:
                    return None
                namespace[f"d{index}"] = default.factory
                default_expr = f"d{index}()"
            else:
                namespace[f"d{index}"] = default
                default_expr = f"d{index}"
            lines.append(f"    {value} = get({key}, MISSING)")
            lines.append(f"    if {value} is MISSING:")
            lines.append(f"        {value} = {default_expr}")
            lines.append("    else:")
            lines.append(f"        {value} = {convert}")
            arguments.append(value)
            continue
        if target in kept_types:
            test = f"{test} and " if test else ""
            test += f"type({value}) is not t{index}"
            if target is Decimal:  # amounts written as integers ("fee": 0): no hook call
                convert = f"t{index}({value}) if type({value}) is int else {convert}"
        if test:
            lines.append(f"    if {test}:")
            lines.append(f"        {value} = {convert}")
        else:
            lines.append(f"    {value} = {convert}")
        arguments.append(value)
    if any(field.name == "raw" for field in attrs.fields(cls)):
        arguments.append("raw=o")  # a model may have no other field (ExchangeLimit)
    lines.append(f"    return cls({', '.join(arguments)})")
    code = compile("\n".join(lines), f"<calypso_async structure {cls.__name__}>", "exec")
    exec(code, namespace)  # noqa: S102 - source built above from the model's own fields
    structure: Callable[[Any], Any] = namespace["structure"]
    return structure
