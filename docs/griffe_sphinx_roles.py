"""A griffe extension for the API reference: Sphinx markup in docstrings, read as Markdown.

The package's docstrings are Google style, with a few reStructuredText habits that
Markdown does not know: roles (``:class:`~x.Y```), and ``::`` before a literal block.
This extension rewrites them when the docs are built (the code is never touched): a role
becomes inline code naming the object's last part (``Y``), a line ending in ``::``
ends in ``:``, and a line that is only ``::`` goes (the indented block after it is a
code block in Markdown too).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["SphinxRoles", "rewrite"]

_ROLE = re.compile(r":(?:class|meth|func|attr|data|mod|exc|obj|const):`~?\.?([^`]+)`")
_LITERAL_INTRO = re.compile(r"::[ \t]*$", re.M)
_ALONE = re.compile(r"^[ \t]*:[ \t]*\n", re.M)


def _name(found: re.Match[str]) -> str:
    target = found.group(1).removesuffix("()")
    return f"`{target.rsplit('.', 1)[-1]}`"


def rewrite(text: str) -> str:
    """Return a docstring with its Sphinx roles and ``::`` made Markdown."""
    text = _ROLE.sub(_name, text)
    text = _LITERAL_INTRO.sub(":", text)
    return _ALONE.sub("\n", text)


class SphinxRoles(griffe.Extension):
    """Rewrites every loaded object's docstring with :func:`rewrite`."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of ``obj``, if it has one."""
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
