"""The benchmark figures README.md and CHANGELOG.md publish are those of benchmarks/published.json.

That file is what ``benchmarks/compare.py --publish`` writes from one run (medians, ratios,
date, commit, machine). README.md's table must be it, rendered; the line naming the run, its
provenance; and every ratio or percentage the two documents quote, one of the phrases below,
computed from it. After a new run, the failures name each sentence to update.
"""

from __future__ import annotations

import importlib.util
import re
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
    throughput, fanout, memory, large = (scenarios[name]["rows"]
                                         for name in ("throughput", "fanout", "memory", "large"))
    gfetch, urllib3_path = throughput["gfetch"], throughput["gfetch-urllib3"]
    cut = round(100 * (1 - gfetch["cpu_us"] / urllib3_path["cpu_us"]))
    threads_cpu = [rows["threads"]["cpu_us"] / rows["gfetch"]["cpu_us"]
                   for rows in (scenario["rows"] for scenario in scenarios.values())]
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


@pytest.mark.parametrize(("document", "quote"), [(document, quote) for document, quotes in QUOTES.items()
                                                 for quote in quotes])
def test_quoted_figures_are_the_published_ones(document: str, quote: str) -> None:
    assert quote in _text(document), f"{document} should say: {quote!r}"


@pytest.mark.parametrize("document", list(QUOTES))
def test_no_figure_is_quoted_from_elsewhere(document: str) -> None:
    """A ratio or percentage outside the table and the quotes above is one nobody checks."""
    text = _text(document).replace(" ".join(published.markdown_table(FIGURES).split()), "")
    for quote in QUOTES[document]:
        text = text.replace(quote, "")
    assert RATIO_OR_PERCENT.findall(text) == []


def _report() -> dict[str, Any]:
    """A compare.py report, as a run of three clients in one scenario writes it."""
    def figures(rps: float, cpu_us: float, rss: float, **extra: Any) -> dict[str, Any]:
        return {"wall_s": 5000 / rps, "rps": rps, "cpu_us_per_req": cpu_us, "peak_rss_mb": rss, **extra}

    return {
        "machine": {"date": "2027-01-02T03:04:05", "gfetch_commit": "abc1234", "nproc": 2, "cpu": "Some CPU",
                    "python": "3.12.1", "gfetch_dirty": []},
        "versions": {"requests": "2.34.2", "urllib3": "2.8.0", "aiohttp": "3.14.5", "gevent": "25.1"},
        "static_server": "nginx/1.22.1", "quick": False, "repeat": 3,
        "scenarios": {"throughput": {"n": 5000, "concurrency": 50}},
        "summary": {"throughput": {
            "sequential": figures(1000, 1000, 36, extrapolated_from=500),
            "grequests": figures(900, 1100, 100), "aiohttp": figures(4900, 200, 66.4),
            "gfetch": figures(4400, 227.4, 75.9), "httpx": {"skipped": "httpx not installed"},
        }},
    }


def test_compare_publish_turns_a_run_into_the_file_the_docs_quote() -> None:
    """What compare.py --publish writes: the run's figures rounded as the table shows them."""
    figures = published.from_report(_report())
    assert published.provenance(figures) == (
        "Measured 2027-01-02 on a 2-core Some CPU, Python 3.12.1, nginx 1.22.1, requests 2.34.2, "
        "urllib3 2.8.0, aiohttp 3.14.5, gfetch abc1234, medians of 3")
    assert published.markdown_table(figures).splitlines()[2:] == [
        "| throughput: 5,000 × 200 B, 50 in flight | sequential* | 1000 | 0.20 | 1.11 | 1000 | 5.00 | 0.91 "
        "| 36.0 | 0.54 |",
        "|  | grequests (one shared Session) | 900 | 0.18 | 1.00 | 1100 | 5.50 | 1.00 | 100.0 | 1.51 |",
        "|  | aiohttp | 4900 | 1.00 | 5.44 | 200 | 1.00 | 0.18 | 66.4 | 1.00 |",
        "|  | **gfetch.map** | **4400** | **0.90** | **4.89** | **227** | **1.14** | **0.21** "
        "| 75.9 | 1.14 |",
    ]
