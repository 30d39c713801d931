"""Import what each of gfetch's extras installs, as a user's program would, and say which fail.

Usage: python scripts/check_extras.py progress,socks,httptools,dask,otel

Run by `bash scripts/dev extras` in a venv where `pip install '.[...]'` resolved the extras with
nothing pinned, as a user's install does: an extra whose newest releases do not work together
(a dask with a distributed that cannot import it) fails here the day it happens.
"""

from __future__ import annotations

import importlib
import sys
import traceback

# The modules a user of each extra imports, gfetch's own among them.
MODULES = {
    "progress": ["tqdm", "gfetch.fanout.progress"],
    "socks": ["socksio", "gfetch.integration.socks"],
    "httptools": ["httptools", "gfetch.http11.parser_httptools"],
    "dask": ["dask.bag", "dask.distributed"],
    "otel": ["opentelemetry.trace", "gfetch.otel"],
}


def check(extras: list[str]) -> list[str]:
    """The failures, one line each, of importing every module of ``extras``."""
    failures = []
    for extra in extras:
        for module in MODULES[extra]:
            try:
                importlib.import_module(module)
            except Exception as e:  # any failure to import is the finding: report it, go on
                failures.append(f"gfetch[{extra}]: import {module} failed: {type(e).__name__}: {e}")
                traceback.print_exc()
            else:
                print(f"gfetch[{extra}]: import {module}: ok")
    return failures


def main(argv: list[str]) -> int:
    extras = [name for name in argv[1].split(",") if name] if len(argv) > 1 else list(MODULES)
    unknown = sorted(set(extras) - set(MODULES))
    if unknown:
        print(f"check_extras.py: unknown extras {unknown}; known: {sorted(MODULES)}", file=sys.stderr)
        return 2
    failures = check(extras)
    for line in failures:
        print(line, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
