"""Turn on the leak check (``leakcheck.py``) for the whole run, not only this folder.

A hook in a sub-folder's conftest would only see this folder's tests, so the check is
registered as a plugin the moment this conftest loads: in a full ``pytest`` run every
test of the suite is checked. (Equivalent to ``-p tests.reliability.leakcheck``, which
works too and is not registered twice.)
"""

from __future__ import annotations

import pytest

PLUGIN = "tests.reliability.leakcheck"


def pytest_configure(config: pytest.Config) -> None:
    """Register the leak check once, for every test collected in this run."""
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)
