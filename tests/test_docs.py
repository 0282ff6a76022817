"""The documentation site: every example on its pages runs as written, and it builds.

Every ```python block on a page under ``docs/`` is marked by the line before it:

- ``<!-- docs-test: run -->``: a complete program. It runs in a fresh interpreter (the
  venv's, warnings as errors) and must print exactly the ```text block that follows it.
- ``<!-- docs-test: pytest -->``: a complete test file. It runs under pytest in an
  empty project, and every test in it must pass.
- ``<!-- docs-test: fragment -->``: a piece of a program (names defined elsewhere). It
  must compile, top-level ``await`` and ``async with`` allowed.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))

KINDS = ("run", "pytest", "fragment")
MARKER = re.compile(r"<!-- docs-test: (\S+) -->")
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)
PYTHON = ("python", "py", "python3")

# What a program that cleaned up after itself never writes on stderr (warnings are
# errors, so an unclosed socket surfaces as "Exception ignored").
UNCLEAN = ("Traceback", "Exception ignored", "Task was destroyed", "Unclosed", "ResourceWarning")


class Block(NamedTuple):
    """One fenced code block of a page, with what is around it."""

    page: Path
    line: int
    lang: str
    code: str
    marker: str | None  # the docs-test marker on the line before, if any
    following: Block | None  # the next block, when only blank lines separate them


def _blocks(page: Path) -> list[Block]:
    text = page.read_text("utf-8")
    found = list(FENCE.finditer(text))
    blocks: list[Block] = []
    for index in reversed(range(len(found))):
        fence = found[index]
        before = text[found[index - 1].end() if index else 0 : fence.start()]
        lines = [line.strip() for line in before.splitlines() if line.strip()]
        marker = MARKER.fullmatch(lines[-1]) if lines else None
        following = None
        if index + 1 < len(found) and not text[fence.end() : found[index + 1].start()].strip():
            following = blocks[0]
        block = Block(
            page=page,
            line=text.count("\n", 0, fence.start()) + 1,
            lang=fence.group("lang"),
            code=fence.group("code"),
            marker=marker.group(1) if marker else None,
            following=following,
        )
        blocks.insert(0, block)
    return blocks


BLOCKS = [block for page in PAGES for block in _blocks(page)]


def _examples(kind: str) -> list[Block]:
    return [block for block in BLOCKS if block.marker == kind]


def _name(block: Block) -> str:
    return f"{block.page.relative_to(DOCS)}:{block.line}"


def _where(blocks: list[Block]) -> list[str]:
    return [f"{_name(block)} ({block.lang or 'no language'}, {block.marker})" for block in blocks]


def test_every_python_block_is_marked() -> None:
    """A python block with no marker, or an unknown one, would go untested: none exists."""
    unmarked = [b for b in BLOCKS if b.lang in PYTHON and b.marker not in KINDS]
    assert _where(unmarked) == []


def test_every_marker_marks_a_python_block() -> None:
    """A marker above a block of another language (or a ```pycon) is a mistake."""
    stray = [b for b in BLOCKS if b.marker is not None and b.lang not in PYTHON]
    assert _where(stray) == []
    text = "".join(page.read_text("utf-8") for page in PAGES)
    assert len(MARKER.findall(text)) == len([b for b in BLOCKS if b.marker is not None])


def test_each_guide_page_runs_an_example() -> None:
    """The guide's pages show programs that run, not only fragments."""
    pages = {block.page.name for block in _examples("run")}
    guide = ["index", "invoices", "webhooks", "resolver", "workers", "testing", "errors"]
    assert sorted(f"{name}.md" for name in guide if f"{name}.md" not in pages) == []
    assert len(_examples("pytest")) >= 1


def test_every_runnable_example_shows_its_output() -> None:
    """Each run example is followed by the ```text block of what it prints."""
    missing = [b for b in _examples("run") if b.following is None or b.following.lang != "text"]
    assert _where(missing) == []


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


@pytest.mark.parametrize("block", _examples("run"), ids=_name)
def test_runnable_example_prints_what_the_page_shows(block: Block, tmp_path: Path) -> None:
    """The program runs in a fresh interpreter, prints the page's output, leaks nothing."""
    assert block.following is not None
    assert block.following.lang == "text"
    script = tmp_path / "example.py"
    script.write_text(block.code, "utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _lines(result.stdout) == _lines(block.following.code), result.stderr
    assert [word for word in UNCLEAN if word in result.stderr] == [], result.stderr


@pytest.mark.parametrize("block", _examples("pytest"), ids=_name)
def test_pytest_example_passes(block: Block, tmp_path: Path) -> None:
    """The test file passes in an empty project, as a user runs it (warnings are errors)."""
    (tmp_path / "test_example.py").write_text(block.code, "utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n', "utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    tests = len(re.findall(r"^(?:async )?def test_", block.code, re.M))
    assert result.returncode == 0, result.stdout + result.stderr
    assert tests >= 1
    assert f"{tests} passed" in result.stdout


@pytest.mark.parametrize("block", _examples("fragment"), ids=_name)
def test_fragment_compiles(block: Block) -> None:
    """A fragment is valid Python, top-level await and async with allowed."""
    compile(block.code, _name(block), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def _identifiers() -> set[str]:
    found: set[str] = set()
    for page in PAGES:
        found |= set(re.findall(r"^::: ([\w.]+)", page.read_text("utf-8"), re.M))
    return found


PUBLIC_MODULES = ["calypso_async", "calypso_async.testing", "calypso_async.stores"]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_api_reference_covers_the_public_api(module: str) -> None:
    """Every name in a public module's __all__ has its place in the API reference."""
    identifiers = _identifiers()
    names = importlib.import_module(module).__all__
    if module in identifiers:
        return
    assert sorted(name for name in names if f"{module}.{name}" not in identifiers) == []


def test_every_file_a_page_names_exists() -> None:
    """A repository path a page quotes (``benchmarks/README.md``) or links to is real."""
    text = "".join(page.read_text("utf-8") for page in PAGES)
    files = r"((?:calypso_async|tests|docs|benchmarks|examples)/[\w/.-]+\.(?:py|md|toml))"
    quoted = re.findall(f"`{files}`", text)
    linked = re.findall(rf"github\.com/calypso-async/calypso_async/blob/main/{files}", text)
    paths = {*quoted, *linked}
    assert len(paths) >= 5
    assert sorted(path for path in paths if not (ROOT / path).exists()) == []


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict`` passes, and the API reference is generated from the code.

    Skipped without mkdocs, except on CI (``CI=true``), where it must run.
    """
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mkdocs is not installed; CI must build the docs")
        pytest.skip("mkdocs is not installed (pip install mkdocs mkdocs-material mkdocstrings)")
    site = tmp_path / "site"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mkdocs", "build", "--strict"),
            *("--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (site / "reference" / "client" / "index.html").read_text("utf-8")
    assert "create_single" in reference
    assert ":class:" not in reference  # Sphinx roles are rewritten for Markdown
    for page in PAGES:
        relative = page.relative_to(DOCS).with_suffix("")
        built = site / ("index.html" if relative.name == "index" else relative / "index.html")
        assert built.exists(), f"{page.relative_to(ROOT)} was not built"
