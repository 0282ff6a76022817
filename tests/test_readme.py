"""The README's examples run as written: each block marked for it is executed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (run|pytest) -->\n```python\n(.*?)```", re.S)


def blocks(kind: str) -> list[str]:
    return [code for found, code in BLOCK.findall(README.read_text("utf-8")) if found == kind]


def test_readme_marks_its_runnable_examples() -> None:
    """The quick start, the worker and the pytest example are all under test."""
    assert len(blocks("run")) == 2
    assert len(blocks("pytest")) == 1


@pytest.mark.parametrize("index", [0, 1])
def test_runnable_example_runs_as_written(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    """Quick start prints COMPLETED; the worker resolves two orders and holds one."""
    code = blocks("run")[index]
    exec(compile(code, f"README.md example {index}", "exec"), {"__name__": "__readme__"})  # noqa: S102
    out = capsys.readouterr().out
    if index == 0:
        assert out.strip() == "COMPLETED 10.234"
    else:
        lines = sorted(out.strip().splitlines())
        assert [line.split(" (")[0] for line in lines] == [
            "order-42: RESOLVED",
            "order-43: RESOLVED",
            "order-44: HELD",
        ]


def test_pytest_example_passes(tmp_path: Path) -> None:
    """The 'Testing your own code against FakeCalypso' example passes under pytest."""
    (tmp_path / "test_example.py").write_text(blocks("pytest")[0], "utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n",
        "utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
