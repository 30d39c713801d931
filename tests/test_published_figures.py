"""The benchmark figures README.md and CHANGELOG.md publish are those of benchmarks/published.json.

That file is what ``benchmarks/compare.py --publish`` writes from one run (medians, ratios,
date, commit, machine). README.md's table must be it, rendered; the line naming the run, its
provenance; and every ratio or percentage the two documents quote, one of the phrases below,
computed from it. After a new run, the failures name each sentence to update.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("published", ROOT / "benchmarks" / "published.py")
assert _spec is not None and _spec.loader is not None
published = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(published)

FIGURES = published.load()
# A ratio (0.69×, 4.8x) or a percentage (57%): the kinds of figure a run publishes.
RATIO_OR_PERCENT = re.compile(r"\d(?:\.\d+)?[×x](?!\w)|\d%")


def _text(name: str) -> str:
    """The document with its line breaks and indentation folded into single spaces."""
    return " ".join((ROOT / name).read_text(encoding="utf-8").split())


def _x(ratio: float) -> str:
    return f"{ratio:.2f}×"


def _quotes() -> dict[str, list[str]]:
    """Per document, the phrases that quote the published figures, computed from them."""
    scenarios = FIGURES["scenarios"]
    throughput, fanout, memory, large, https, cold = (
        scenarios[name]["rows"] for name in ("throughput", "fanout", "memory", "large", "https", "https_cold")
    )
    gfetch, urllib3_path = throughput["gfetch"], throughput["gfetch-urllib3"]
    cut = round(100 * (1 - gfetch["cpu_us"] / urllib3_path["cpu_us"]))
    threads_cpu = [
        rows["threads"]["cpu_us"] / rows["gfetch"]["cpu_us"]
        for rows in (scenario["rows"] for scenario in scenarios.values())
    ]
    fanout_time = _x(fanout["gfetch"]["wall_s"] / fanout["aiohttp"]["wall_s"])
    small_cpu = _x(gfetch["x_aiohttp"]["cpu"])
    kept_rss = _x(memory["gfetch"]["x_aiohttp"]["rss"])
    fanout_n, memory_n = f"{scenarios['fanout']['n']:,}", f"{scenarios['memory']['n']:,}"
    return {
        "README.md": [
            f"threads used {_x(fanout['threads']['cpu_us'] / fanout['gfetch']['cpu_us'])} gfetch's CPU per "
            f"request and {_x(fanout['threads']['rss_mb'] / fanout['gfetch']['rss_mb'])} its peak memory",
            f"an OS thread per request in flight: {min(threads_cpu):.2f}–{_x(max(threads_cpu))} gfetch's CPU "
            "per request",
            f"{fanout_n} requests fan out in {fanout_time} aiohttp's time, peak at "
            f"{_x(fanout['gfetch']['x_aiohttp']['rss'])} its memory, and small keep-alive requests cost "
            f"{small_cpu} its CPU",
            f"cuts the CPU per request of the urllib3 path by {cut}% ({urllib3_path['cpu_us']} → "
            f"{gfetch['cpu_us']} µs)",
            f"gfetch makes {_x(gfetch['x_grequests']['rps'])} grequests' requests per second here at "
            f"{_x(gfetch['x_grequests']['cpu'])} its CPU",
            f"small keep-alive requests cost {small_cpu} its CPU (this VM's speed",
            f"it reads 64 KiB bodies at {_x(large['gfetch']['x_aiohttp']['rps'])} its rate",
            f"finishes the {fanout_n}-request fan-out in {fanout_time} its time at "
            f"{_x(fanout['gfetch']['x_aiohttp']['cpu'])} its CPU",
            f"with {memory_n} requests in flight and every response kept, peaks at {kept_rss} its memory",
            f"over HTTPS (TLS 1.3) {_x(https['gfetch']['x_aiohttp']['cpu'])} its CPU",
            f"{scenarios['https_cold']['n']:,} HTTPS requests that each need a TLS handshake finish in "
            f"{_x(cold['gfetch']['wall_s'] / cold['aiohttp']['wall_s'])} its time at "
            f"{_x(cold['gfetch']['x_aiohttp']['rss'])} its peak memory",
            f"CPU per small keep-alive request is {_x(gfetch['x_pycurl']['cpu'])} libcurl's",
        ],
        "CHANGELOG.md": [
            f"({cut}% less CPU per request than on urllib3's",
            f"With {memory_n} requests in flight and every response kept, peak RSS is {kept_rss} aiohttp's",
            f"(small keep-alive requests cost {small_cpu} its CPU)",
            f"The {fanout_n}-request fan-out takes {fanout_time} aiohttp's time",
        ],
    }


QUOTES = _quotes()


def test_readme_table_is_the_published_file() -> None:
    assert " ".join(published.markdown_table(FIGURES).split()) in _text("README.md")


def test_readme_names_the_published_run() -> None:
    assert published.provenance(FIGURES) in _text("README.md")


@pytest.mark.parametrize(
    ("document", "quote"), [(document, quote) for document, quotes in QUOTES.items() for quote in quotes]
)
def test_quoted_figures_are_the_published_ones(document: str, quote: str) -> None:
    assert quote in _text(document), f"{document} should say: {quote!r}"


@pytest.mark.parametrize("document", list(QUOTES))
def test_no_figure_is_quoted_from_elsewhere(document: str) -> None:
    """A ratio or percentage outside the table and the quotes above is one nobody checks."""
    text = _text(document).replace(" ".join(published.markdown_table(FIGURES).split()), "")
    for quote in QUOTES[document]:
        text = text.replace(quote, "")
    assert RATIO_OR_PERCENT.findall(text) == []


@pytest.fixture(scope="module")
def compare() -> Any:
    """benchmarks/compare.py, which imports its neighbours (servers, published) by name."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module("compare")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def _figures(rps: float, cpu_us: float, rss: float, **extra: Any) -> dict[str, Any]:
    """One run's figures, as compare.run_one returns them for 5,000 requests."""
    return {
        "wall_s": 5000 / rps,
        "cpu_s": cpu_us * 5000e-6,
        "rps": rps,
        "cpu_us_per_req": cpu_us,
        "peak_rss_mb": rss,
        "rss_before_mb": 30.0,
        "gc_s": 0.0,
        "errors": 0,
        "listen_overflows": 0,
        **extra,
    }


def _report(compare: Any) -> dict[str, Any]:
    """A compare.py report, as three rounds of five clients in one scenario write it."""
    runs = {
        client: [figures] * 3
        for client, figures in {
            "sequential": _figures(1000, 1000, 36, extrapolated_from=500),
            "grequests": _figures(900, 1100, 100),
            "aiohttp": _figures(4900, 200, 66.4),
            "pycurl": _figures(30000, 20, 30),
            "gfetch": _figures(4400, 227.4, 75.9),
            "httpx": {"skipped": "httpx not installed"},
        }.items()
    }
    table = {client: compare.summarize(rounds) for client, rounds in runs.items()}
    compare.add_ratios(table, runs, list(compare.PEERS))
    return {
        "machine": {
            "date": "2027-01-02T03:04:05",
            "gfetch_commit": "abc1234",
            "nproc": 2,
            "cpu": "Some CPU",
            "python": "3.12.1",
            "gfetch_dirty": [],
        },
        "versions": {"requests": "2.34.2", "urllib3": "2.8.0", "aiohttp": "3.14.5", "gevent": "25.1"},
        "static_server": "nginx/1.22.1",
        "quick": False,
        "repeat": 3,
        "scenarios": {"throughput": {"n": 5000, "concurrency": 50}},
        "summary": {"throughput": table},
    }


def test_compare_publish_turns_a_run_into_the_file_the_docs_quote(compare: Any) -> None:
    """What compare.py --publish writes: the run's figures rounded as the table shows them, with the ratios
    to aiohttp, grequests and pycurl (×a, ×g, ×c)."""
    figures = published.from_report(_report(compare))
    assert published.provenance(figures) == (
        "Measured 2027-01-02 on a 2-core Some CPU, Python 3.12.1, nginx 1.22.1, requests 2.34.2, "
        "urllib3 2.8.0, aiohttp 3.14.5, gfetch abc1234, medians of 3"
    )
    assert published.markdown_table(figures).splitlines()[2:] == [
        "| throughput: 5,000 × 200 B, 50 in flight | sequential* | 1000 | 0.20 | 1.11 | 0.03 | 1000 | 5.00 "
        "| 0.91 | 50.00 | 36.0 | 0.54 | 1.20 |",
        "|  | grequests (one shared Session) | 900 | 0.18 | 1.00 | 0.03 | 1100 | 5.50 | 1.00 | 55.00 | 100.0 "
        "| 1.51 | 3.33 |",
        "|  | aiohttp | 4900 | 1.00 | 5.44 | 0.16 | 200 | 1.00 | 0.18 | 10.00 | 66.4 | 1.00 | 2.21 |",
        "|  | pycurl (libcurl multi) | 30000 | 6.12 | 33.33 | 1.00 | 20 | 0.10 | 0.02 | 1.00 | 30.0 | 0.45 "
        "| 1.00 |",
        "|  | **gfetch.map** | **4400** | **0.90** | **4.89** | **0.15** | **227** | **1.14** | **0.21** "
        "| **11.37** | 75.9 | 1.14 | 2.53 |",
    ]


def test_ratios_are_medians_of_per_round_ratios(compare: Any) -> None:
    """A ratio is taken within each round, then the median over rounds; a round where either client
    failed does not count."""
    runs = {
        "gfetch": [_figures(1000, cpu, 50) for cpu in (100, 300, 200, 100)],
        "aiohttp": [*(_figures(1000, cpu, 50) for cpu in (50, 300, 400)), {"failed": "exit 1"}],
    }
    table = {client: compare.summarize(rounds) for client, rounds in runs.items()}
    compare.add_ratios(table, runs, ["aiohttp"])
    assert [r["cpu"] for r in table["gfetch"]["x_aiohttp_rounds"]] == [2.0, 1.0, 0.5]
    assert table["gfetch"]["x_aiohttp"]["cpu"] == 1.0  # the ratio of the medians would say 150 / 300
    assert table["aiohttp"]["x_aiohttp"] == {"rps": 1.0, "wall": 1.0, "cpu": 1.0, "rss": 1.0}


def test_rounds_alternate_the_clients_order(compare: Any) -> None:
    """Round by round the clients run as given, then reversed: a drift of the machine's speed within a
    round favours none of them."""
    clients = ["aiohttp", "pycurl", "gfetch"]
    assert [compare.round_order(clients, i) for i in range(3)] == [clients, clients[::-1], clients]
