"""The public surface: calypso_async.__all__ is sorted, unique, importable and documented."""

from __future__ import annotations

import ast
import importlib
import itertools
import typing
from pathlib import Path

import aiohttp
import pytest

import calypso_async
from calypso_async import CalypsoError


def _source_docstring(name: str) -> str | None:
    """The string literal right after ``name = ...`` at the top level of any package module.

    Type aliases and constants cannot carry ``__doc__`` at runtime; their docstring is
    the attribute docstring that follows the assignment (as Sphinx reads it).
    """
    for path in sorted(Path(calypso_async.__file__).parent.rglob("*.py")):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for statement, following in itertools.pairwise(body):
            if isinstance(statement, ast.Assign):
                targets = statement.targets
            elif isinstance(statement, ast.AnnAssign):
                targets = [statement.target]
            else:
                continue
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                continue
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                value = following.value.value
                return value if isinstance(value, str) else None
    return None


def test_all_is_sorted_without_duplicates() -> None:
    """__all__ is kept sorted, and each name appears once."""
    names = list(calypso_async.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", calypso_async.__all__)
def test_every_public_name_is_importable_and_documented(name: str) -> None:
    """`from calypso_async import X` works for every listed name, and X has a docstring."""
    module = importlib.import_module("calypso_async")
    obj = getattr(module, name)
    doc = obj.__doc__
    if doc is None or (not isinstance(obj, type) and doc == type(obj).__doc__):
        doc = _source_docstring(name)
    assert isinstance(doc, str), f"{name} has no docstring"
    assert doc.strip(), f"{name} has no docstring"


def test_design_promises_are_exported() -> None:
    """The names the design promises users are all public."""
    promised = {
        "CalypsoClient",
        "CalypsoSession",
        "sign",
        "verify_signature",
        "Invoice",
        "WebhookEvent",
        "WebhookSubscription",
        "InvoiceState",
        "InvoiceType",
        "InterventionType",
        "EventType",
        "CalypsoError",
        "APIError",
        "BadRequestError",
        "AuthenticationError",
        "NotFoundError",
        "RateLimitError",
        "ServerError",
        "CalypsoConnectionError",
        "CalypsoTimeoutError",
        "DecodeError",
        "SignatureVerificationError",
        "ConfigurationError",
    }
    assert promised <= set(calypso_async.__all__)


def test_every_public_exception_derives_from_calypso_error() -> None:
    """One `except CalypsoError` catches everything the SDK raises on purpose."""
    errors = [
        getattr(calypso_async, name)
        for name in calypso_async.__all__
        if isinstance(getattr(calypso_async, name), type)
        and issubclass(getattr(calypso_async, name), BaseException)
    ]
    assert len(errors) >= 15
    for error in errors:
        assert issubclass(error, CalypsoError), error


@pytest.mark.parametrize("home", ["calypso_async", "calypso_async.stores", "calypso_async.testing"])
def test_every_public_class_names_its_public_home(home: str) -> None:
    """Tracebacks and reprs say ``calypso_async.stores.SQLiteStore``, not a private path,
    and ``typing.get_type_hints()`` still resolves every class's annotations."""
    module = importlib.import_module(home)
    classes = [getattr(module, name) for name in module.__all__]
    classes = [obj for obj in classes if isinstance(obj, type)]
    assert classes
    assert {obj.__name__: obj.__module__ for obj in classes} == {
        obj.__name__: home for obj in classes
    }
    for obj in classes:
        # aiohttp is imported only for type checkers where a session may be borrowed.
        typing.get_type_hints(obj, localns={"aiohttp": aiohttp})
