"""The cli layer: the ``calypso-async`` command.

``main.py`` dispatches; ``args.py`` holds the parser and the settings every command
shares; ``api.py`` the commands that call the API, ``fake.py`` the embedded fake server,
``worker.py`` the resolver worker, ``store.py`` the operators' commands on a store and
``demo.py`` the demo.
"""

from .main import main

__all__ = ["main"]
