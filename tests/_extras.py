"""Optional extras in tests: skip when one is not installed, fail clearly when it is broken.

``pytest.importorskip`` skips only when a module is missing: an installed
package that fails to import (a dask with a distributed from another era)
raises at collection and takes the whole run down. :func:`require` imports
inside a test or fixture instead, so only the tests that need the extra are
affected, each with a message that says what is wrong and what to do.

``scripts/dev`` exports the extras it installs in ``GFETCH_DEV_EXTRAS``;
there a missing extra is a broken venv, and fails instead of skipping.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def installed_on_purpose(extra: str) -> bool:
    """Whether the environment was set up with ``extra`` (scripts/dev says so)."""
    return extra in os.environ.get("GFETCH_DEV_EXTRAS", "").split(",")


def _missing(error: ModuleNotFoundError, module: str) -> bool:
    """Whether ``error`` says ``module`` (or a package it is in) is not installed at all; for
    gfetch's plug-in modules, the package of their extra (they raise naming it)."""
    parts = module.split(".")
    return parts[0] == "gfetch" or error.name in {".".join(parts[: i + 1]) for i in range(len(parts))}


def require(module: str, extra: str) -> ModuleType:
    """``module``, imported; call it in a test or fixture, never at module level.

    Skips the test when the module is not installed (unless ``extra`` was
    installed on purpose); fails it, naming the error and the fix, when the
    module is there but cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if not _missing(e, module):
            _fail_broken(module, extra, e)
        if installed_on_purpose(extra):
            pytest.fail(
                f"{module} is not installed, but this environment installs gfetch[{extra}] "
                "(GFETCH_DEV_EXTRAS): remove the venv and run scripts/dev again",
                pytrace=False,
            )
        pytest.skip(f"{module} is not installed (pip install 'gfetch[{extra}]')")
    except Exception as e:  # installed, but its import fails: the finding to report
        _fail_broken(module, extra, e)


def _fail_broken(module: str, extra: str, error: BaseException) -> NoReturn:
    pytest.fail(
        f"{module} is installed but cannot be imported ({type(error).__name__}: {error}): the packages "
        f"of gfetch[{extra}] do not work together. Reinstall the locked set (remove .venv, run "
        "`bash scripts/dev test`), or find the bad pair with `bash scripts/dev extras`.",
        pytrace=False,
    )


def optional(module: str) -> ModuleType | None:
    """``module`` for module-level use (parametrize lists, skip marks), or None when it is missing
    or broken; never raises. tests/test_extras.py fails on a broken one."""
    try:
        return importlib.import_module(module)
    except Exception:
        return None
