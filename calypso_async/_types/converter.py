"""The one cattrs converter: wire JSON (camelCase) to models (snake_case).

Private by design (never cattrs' global converter). Lenient in production: unknown keys
are ignored. ``make_converter(strict=True)`` builds its twin that forbids unknown keys,
which the test suite runs over every fixture so that a field the models forgot fails CI.

:func:`structure` first tries a straight-line function compiled from this converter's
own hooks (``fast_structure``), and falls back to cattrs for anything it does not take.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, Union, cast, get_args, get_origin

import attrs
from cattrs import Converter
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn, override

from .._errors import DecodeError
from . import account, customer, exchange, fiat, invoice, payout, webhook  # noqa: F401 - importing them registers their models
from .base import MODELS, TolerantEnum
from .fast_structure import compile_structure

__all__ = ["make_converter", "structure", "structure_leniently"]

T = TypeVar("T")

_MODELS: tuple[type[Any], ...] = tuple(MODELS)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _kind(value: Any) -> str:
    # Errors name the JSON type, never the value: a misplaced secret must not be quoted.
    return "null" if value is None else type(value).__name__


def _decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("a string that is not a decimal number") from None
        if result.is_finite():
            return result
    raise ValueError(f"a {_kind(value)} is not a decimal number")


_FRACTION = re.compile(r"\.(\d+)")


def _datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"a {_kind(value)} is not a date string")
    text = value.strip()
    try:
        # Both published forms parse as they are on current Pythons: skip the rewriting.
        parsed = datetime.fromisoformat(text)
    except ValueError:
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Some Pythons read at most microseconds; some servers write nanoseconds.
        text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("a string that is not an ISO 8601 date") from None
    if parsed.tzinfo is UTC:  # "Z" and "+00:00" parse to the UTC singleton
        return parsed
    if parsed.tzinfo is not None:
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # "9999-12-31T23:59:59-23:59" is past datetime.max in UTC
            raise ValueError("a date out of range once in UTC") from None
    # Calypso writes UTC without a zone. Parsing again with the zone written out costs a
    # third of replace(tzinfo=UTC) on CPython 3.11; a date-only text cannot take one.
    try:
        return datetime.fromisoformat(text + "+00:00")
    except ValueError:
        return parsed.replace(tzinfo=UTC)


def _str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    # Ids have been published as numbers too; keep them as strings.
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"a {_kind(value)} is not a string")


def _bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"a {_kind(value)} is not a boolean")


def _int(value: Any, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"a {_kind(value)} is not an integer")


def _enum(value: Any, cls: type[TolerantEnum]) -> TolerantEnum:
    if not isinstance(value, str):
        raise ValueError(f"a {_kind(value)} is not a {cls.__name__} string")
    # A known value is one dict lookup (the map holds only the declared members);
    # calling the class costs three times as much and is left for unknown values.
    member = cls._value2member_map_.get(value)
    return cls(value) if member is None else cast(TolerantEnum, member)


def _model_hook(conv: Converter, cls: type[Any], strict: bool) -> Callable[[Any, type], Any]:
    fields = attrs.fields(cls)
    overrides: dict[str, Any] = {
        f.name: override(omit=True) if f.name == "raw" else override(rename=_camel(f.name))
        for f in fields
    }
    base = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=strict, **overrides)
    keeps_raw = any(f.name == "raw" for f in fields)
    # "Most fields can be absent or null": a null object whose fields all have defaults
    # (an event's data) reads as an empty one rather than failing the whole answer.
    null_is_empty = all(f.default is not attrs.NOTHING for f in fields)

    # Every model checks for an object: the generated function would read a string's
    # substrings as keys and turn "USDC" into an empty Autoconversion.
    def structure_model(data: Any, cl: type) -> Any:
        if data is None and null_is_empty:
            return cls()
        if not _is_object(data):
            raise ValueError(f"expected a JSON object for {cls.__name__}, got {_kind(data)}")
        obj = base(data, cl)
        if keeps_raw:
            object.__setattr__(obj, "raw", data)  # frozen; set once, before anyone sees it
        return obj

    return structure_model


def _is_object(data: Any) -> bool:
    # Decoded JSON objects are dicts: skip the slower ABC check for them.
    return type(data) is dict or isinstance(data, Mapping)


def _is_optional(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) in (Union, types.UnionType) and len(args) == 2 and type(None) in args


# Types whose hooks (_str, _bool, _int, _decimal) return a value of that exact type as it is.
_KEPT_AS_IS = frozenset({str, bool, int, Decimal})


def _optional_hook_factory(conv: Converter) -> Callable[[Any], Callable[[Any, type], Any]]:
    # cattrs' own Optional hook looks the inner hook up again on every call; most model
    # fields are optional, so binding it once is most of the cost of structuring.
    def factory(type_: Any) -> Callable[[Any, type], Any]:
        inner_type = next(arg for arg in get_args(type_) if arg is not type(None))
        inner = _structure_hook(conv, inner_type)
        if inner_type in _KEPT_AS_IS:
            # Their hooks return a value of exactly that type unchanged: skip the call.
            def structure_kept(value: Any, _: type) -> Any:
                if value is None or type(value) is inner_type:
                    return value
                return inner(value, inner_type)

            return structure_kept

        def structure_optional(value: Any, _: type) -> Any:
            return None if value is None else inner(value, inner_type)

        return structure_optional

    return factory


def _structure_hook(conv: Converter, type_: Any) -> Callable[[Any, Any], Any]:
    get_hook = getattr(conv, "get_structure_hook", None)
    if get_hook is None:  # cattrs before 24.1 offered the same lookup on its dispatcher
        dispatcher: Any = conv._structure_func
        get_hook = dispatcher.dispatch
    hook: Callable[[Any, Any], Any] = get_hook(type_)
    return hook


def _is_homogeneous_tuple(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _array_hook_factory(conv: Converter) -> Callable[[Any], Callable[[Any, type], Any]]:
    # cattrs would iterate any iterable: a string became a tuple of one-letter UNKNOWN
    # enum members, a dict a tuple of its keys. A JSON array is a list; nothing else is.
    # A null list is an empty one ("most fields can be absent or null").
    def factory(type_: Any) -> Callable[[Any, type], Any]:
        item_type = get_args(type_)[0]

        def structure_array(value: Any, _: type) -> tuple[Any, ...]:
            if value is None:
                return ()
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"expected a JSON array, got {_kind(value)}")
            try:
                return tuple(conv.structure(item, item_type) for item in value)
            except Exception as exc:
                raise _item_error(conv, value, item_type) from exc

        return structure_array

    return factory


def _item_error(conv: Converter, items: Any, item_type: Any) -> ValueError:
    """A failure naming the first item that cannot be read (for ``_describe``)."""
    for index, item in enumerate(items):
        try:
            conv.structure(item, item_type)
        except Exception as exc:
            error = ValueError(f"item {index}: {exc}")
            error.calypso_index = index  # type: ignore[attr-defined]
            return error
    return ValueError("an item cannot be read")


def make_converter(*, strict: bool = False) -> Converter:
    """Build a converter for the models; ``strict`` forbids unknown keys (tests only)."""
    conv = Converter(detailed_validation=True)
    # Simple types first, so the model hooks generated below pick them up.
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_structure_hook(datetime, _datetime)
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(bool, _bool)
    conv.register_structure_hook(int, _int)
    # Registered by class: dispatch follows the MRO, so this beats the str hook above.
    conv.register_structure_hook(TolerantEnum, _enum)
    conv.register_structure_hook_factory(_is_homogeneous_tuple, _array_hook_factory(conv))
    conv.register_structure_hook_factory(_is_optional, _optional_hook_factory(conv))
    # Models in dependency order: an optional nested model binds its hook when the
    # model holding it is generated.
    for model in _MODELS:
        conv.register_structure_hook(model, _model_hook(conv, model, strict))
    return conv


_converter = make_converter()
# A straight-line function per model: what answers and webhooks are read with (models
# nested in them go through the converter's hooks).
_compiled: dict[type[Any], Callable[[Any], Any] | None] = {
    model: compile_structure(
        model, lambda type_: _structure_hook(_converter, type_), _KEPT_AS_IS, _camel
    )
    for model in _MODELS
}


def structure(data: Any, cls: type[T], *, path: str | None = None) -> T:
    """Turn decoded JSON into a model, or raise :class:`DecodeError` saying what is wrong."""
    if not _is_object(data):
        raise DecodeError(
            f"expected a JSON object for {cls.__name__}, got {type(data).__name__}", path=path
        )
    compiled = _compiled.get(cls)
    if compiled is not None:
        try:
            return cast(T, compiled(data))
        except Exception:  # noqa: S110 - cattrs, below, says precisely what is wrong
            pass
    try:
        return _converter.structure(data, cls)
    except (BaseValidationError, ValueError, TypeError, KeyError) as exc:
        raise DecodeError(
            f"the {cls.__name__} in the answer is malformed: {_describe(exc)}", path=path
        ) from exc


def structure_leniently(data: Mapping[str, Any], cls: type[T]) -> T:
    """Build ``cls`` field by field, a field that cannot be read taking its default.

    For inbound events, where refusing a genuine delivery loses it; nested models are
    read the same way, and ``raw`` keeps the object as it came.

    Raises:
        DecodeError: A required field (one with no default) is absent or unreadable.
    """
    fields = attrs.fields(cast(Any, cls))
    values: dict[str, Any] = {}
    for field in fields:
        key = _camel(field.name)
        if field.name == "raw" or key not in data:
            continue
        value, type_ = data[key], field.type
        if type_ in _MODELS and _is_object(value):
            values[field.name] = structure_leniently(value, type_)
            continue
        try:
            values[field.name] = _converter.structure(value, type_)
        except (BaseValidationError, ValueError, TypeError, KeyError, ArithmeticError):
            continue  # this field keeps its default
    for field in fields:
        if field.default is attrs.NOTHING and field.name not in values:
            raise DecodeError(
                f"the {cls.__name__} has no usable {_camel(field.name)!r}, which is required"
            )
    obj = cls(**values)
    if any(field.name == "raw" for field in fields):
        object.__setattr__(obj, "raw", data)
    return obj


_ATTRIBUTE_NOTE = re.compile(r"@ attribute (\w+)")


def _describe(exc: BaseException, where: str = "") -> str:
    """Each failure as ``field.path: what``, in wire names (``balances[0].amount``)."""
    if isinstance(exc, BaseValidationError):
        parts = []
        for sub in exc.exceptions:
            named = [_ATTRIBUTE_NOTE.search(note) for note in getattr(sub, "__notes__", [])]
            field = next((_camel(found.group(1)) for found in named if found), "")
            here = f"{where}.{field}" if where and field else where or field
            parts.append(_describe(sub, here))
        return " | ".join(parts) or str(exc)
    index = getattr(exc, "calypso_index", None)
    if index is not None and exc.__cause__ is not None:
        return _describe(exc.__cause__, f"{where}[{index}]")
    if isinstance(exc, KeyError):
        return f"{where or exc}: missing, and it is required"
    return f"{where}: {exc}" if where else str(exc)
