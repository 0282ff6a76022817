"""The README's examples run as written: each block marked for it is executed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
README_TEXT = README.read_text("utf-8")
BLOCK = re.compile(r"<!-- readme-test: (run|pytest|fragment) -->\n```python\n(.*?)```", re.S)


def blocks(kind: str) -> list[str]:
    return [code for found, code in BLOCK.findall(README_TEXT) if found == kind]


def test_readme_marks_its_runnable_examples() -> None:
    """The quick start, the worker, many workers and the pytest example are under test;
    every other Python block says it is a fragment."""
    assert len(blocks("run")) == 3
    assert len(blocks("pytest")) == 1
    assert len(BLOCK.findall(README_TEXT)) == README_TEXT.count("```python")


@pytest.mark.parametrize("index", range(len(blocks("fragment"))))
def test_fragment_is_valid_python_inside_a_coroutine(index: int) -> None:
    """A fragment is not run, but it parses as the body of an ``async def``."""
    body = "".join(f"    {line}" for line in blocks("fragment")[index].splitlines(True))
    compile(f"async def fragment():\n{body}", f"README.md fragment {index}", "exec")


@pytest.mark.parametrize("index", [0, 1, 2])
def test_runnable_example_runs_as_written(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    """Quick start prints COMPLETED; the worker resolves two orders and holds one; two
    resolvers sharing a SQLite file return each invoice to paid once."""
    code = blocks("run")[index]
    exec(compile(code, f"README.md example {index}", "exec"), {"__name__": "__readme__"})  # noqa: S102
    out = capsys.readouterr().out
    if index == 0:
        assert out.strip() == "COMPLETED 10.234"
    elif index == 2:
        assert out.strip() == "10 invoices, returned to paid [1] time(s)"
    else:
        lines = sorted(out.strip().splitlines())
        assert [line.split(" (")[0] for line in lines] == [
            "order-42: RESOLVED",
            "order-43: RESOLVED",
            "order-44: HELD",
        ]


def config_block() -> str:
    found = re.search(r"<!-- readme-test: pytest-config -->\n```toml\n(.*?)```", README_TEXT, re.S)
    assert found, "the README shows no pytest configuration snippet"
    return found.group(1)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_pytest_example_passes(tmp_path: Path, mode: str) -> None:
    """The 'Testing your own code' example passes in a fresh project, as a user runs it.

    Strict: the README's ``pyproject.toml`` snippet without its optional
    ``asyncio_mode`` line (pytest-asyncio's default mode). Auto: the whole snippet.
    Warnings are errors, pytest-asyncio's own included.
    """
    (tmp_path / "test_example.py").write_text(blocks("pytest")[0], "utf-8")
    config = config_block()
    if mode == "strict":
        config = "".join(line for line in config.splitlines(True) if "asyncio_mode" not in line)
    assert ("asyncio_mode" in config) == (mode == "auto")
    pyproject = '[project]\nname = "shop"\nversion = "0.1"\n\n' + config
    (tmp_path / "pyproject.toml").write_text(pyproject, "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


@pytest.mark.parametrize("doc", ["README.md", "docs/reliability.md", "benchmarks/README.md"])
def test_every_file_a_doc_points_to_exists(doc: str) -> None:
    """A path a document names in backticks (``tests/...py``) or links to is real."""
    root = README.parent
    text = (root / doc).read_text("utf-8")
    folders = "calypso_async|tests|docs|benchmarks|examples"
    quoted = re.findall(rf"`((?:{folders})/[\w/.-]+\.(?:py|md))`", text)
    linked = re.findall(r"\]\(([\w/.-]+\.(?:py|md|toml))\)", text)
    paths = {root / path for path in quoted} | {(root / doc).parent / path for path in linked}
    assert len(paths) >= 2
    assert {str(path) for path in paths if not path.exists()} == set()
