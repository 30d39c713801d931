"""Every optional extra that is installed imports: a broken set fails here, by name.

The modules of each extra are scripts/check_extras.py's (the check CI runs
on a user's unpinned install); here they are imported in the test
environment, through tests/_extras.py's rules: a missing extra skips,
unless scripts/dev installed it on purpose.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from _extras import require

CHECK = Path(__file__).resolve().parent.parent / "scripts" / "check_extras.py"
_spec = importlib.util.spec_from_file_location("check_extras", CHECK)
assert _spec is not None and _spec.loader is not None
check_extras = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_extras)

PAIRS = [(module, extra) for extra, modules in check_extras.MODULES.items() for module in modules]


@pytest.mark.parametrize(("module", "extra"), PAIRS, ids=[f"{e}:{m}" for m, e in PAIRS])
def test_an_installed_extra_imports(module: str, extra: str) -> None:
    assert require(module, extra).__name__ == module


def test_the_check_names_what_fails_to_import(tmp_path: Path) -> None:
    # A package that is installed but breaks on import, as dask did with an old distributed.
    (tmp_path / "socksio").mkdir()
    (tmp_path / "socksio" / "__init__.py").write_text("from nowhere import something\n")
    result = subprocess.run(
        [sys.executable, str(CHECK), "socks"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 1
    expected = "gfetch[socks]: import socksio failed: ModuleNotFoundError: No module named 'nowhere'"
    assert expected in result.stderr


def test_the_check_refuses_an_unknown_extra() -> None:
    result = subprocess.run(
        [sys.executable, str(CHECK), "nosuch"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "unknown extras ['nosuch']" in result.stderr


def test_require_fails_a_broken_module_and_skips_a_missing_one(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "brokenextra.py").write_text("raise ImportError('cannot import name x from y')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GFETCH_DEV_EXTRAS", "test")
    with pytest.raises(
        pytest.fail.Exception,
        match=r"brokenextra is installed but cannot be imported "
        r"\(ImportError: cannot import name x from y\): the packages of gfetch\[demo\]",
    ):
        require("brokenextra", "demo")
    with pytest.raises(pytest.skip.Exception, match=r"no_such_module\.sub is not installed"):
        require("no_such_module.sub", "demo")
    monkeypatch.setenv("GFETCH_DEV_EXTRAS", "test,demo")  # installed on purpose: missing is broken
    with pytest.raises(pytest.fail.Exception, match="this environment installs gfetch"):
        require("no_such_module.sub", "demo")
