"""gfetch[otel] is optional: gfetch runs without OpenTelemetry, and gfetch.otel names the extra to install.

Its spans are tested where the OpenTelemetry SDK is installed: tests/plugins/test_gfetch_otel.py.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from typing import Any

import pytest

# A fresh interpreter where OpenTelemetry cannot be imported, installed or not: a traced fan-out
# and a plain request work, and load nothing of OpenTelemetry's or gfetch.otel.
_WITHOUT_OPENTELEMETRY = textwrap.dedent(
    """
    import sys
    sys.modules["opentelemetry"] = None  # import opentelemetry now fails, as when it is not installed
    import gfetch
    seen = []
    with gfetch.Session(trace=lambda event, record: seen.append(event)) as session:
        statuses = [r.status_code for r in gfetch.map([sys.argv[1]] * 3, session=session)]
        statuses.append(session.get(sys.argv[1], timeout=10).status_code)
    assert statuses == [200] * 4 and seen.count("request.returned") == 4, (statuses, seen)
    loaded = sorted(name for name in sys.modules if name.startswith(("opentelemetry.", "gfetch.otel")))
    assert not loaded, loaded
    try:
        import gfetch.otel
    except ModuleNotFoundError as e:
        print(e.name, "|", e)
    """
)


def test_gfetch_runs_without_opentelemetry_and_gfetch_otel_names_the_extra(server: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OPENTELEMETRY, server.url("/json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "opentelemetry | gfetch.otel needs OpenTelemetry's API: pip install 'gfetch[otel]'"
    )


def test_importing_gfetch_otel_without_opentelemetry_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "gfetch.otel", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'gfetch\[otel\]'") as raised:
        importlib.import_module("gfetch.otel")
    assert raised.value.name == "opentelemetry"
