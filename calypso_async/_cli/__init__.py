"""The cli layer: the ``calypso-async`` command (``main.py``) and its demo."""

from .main import main

__all__ = ["main"]
