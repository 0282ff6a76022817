"""The layer diagram as tests: import contracts, the one aiohttp client, module sizes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import calypso_async

PACKAGE = Path(calypso_async.__file__).parent
ROOT = PACKAGE.parent


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_import_contracts_hold() -> None:
    """Layers only import downwards, core does no I/O, and only the transport and the
    web adapters import aiohttp (the contracts in pyproject.toml). In a process of its
    own: import-linter sets up logging its own way."""
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _runtime_nodes(node: ast.AST) -> list[ast.AST]:
    """Every node, but for the bodies of ``if TYPE_CHECKING:`` (imports for mypy only)."""
    found = [node]
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
            continue
        found += _runtime_nodes(child)
    return found


def _aiohttp_imports(path: Path) -> list[str]:
    names = []
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.split(".")[0] == "aiohttp"]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "aiohttp"
        ):
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_only_the_transport_uses_aiohttps_client() -> None:
    """Outside _http/aiohttp.py (and the fake server), aiohttp is only ever aiohttp.web."""
    allowed = {PACKAGE / "_http" / "aiohttp.py"}
    offenders = {}
    for path in _modules():
        if path in allowed or PACKAGE / "testing" in path.parents:
            continue
        client_imports = [name for name in _aiohttp_imports(path) if name != "aiohttp.web"]
        if client_imports:
            offenders[str(path.relative_to(ROOT))] = client_imports
    assert offenders == {}


def test_no_module_is_over_400_lines() -> None:
    """A module does one thing: the house limit keeps each readable in one sitting."""
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in _modules()
    }
    assert {path: size for path, size in sizes.items() if size > 400} == {}


def test_the_file_list_shows_the_layers() -> None:
    """Each layer of the design is a subpackage a newcomer finds from the file list."""
    layers = {"_core", "_http", "_types", "_resources", "_inbound", "_resolver", "_cli"}
    assert layers <= {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    flat = sorted(path.name for path in PACKAGE.glob("_*.py") if path.name != "__init__.py")
    assert flat == [
        "__main__.py",
        "_aio.py",
        "_client.py",
        "_errors.py",
        "_logging.py",
        "_public.py",
        "_settings.py",
    ]
