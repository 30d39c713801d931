"""The published benchmark figures: ``benchmarks/published.json``, the one source the docs quote.

``compare.py --publish`` writes the file from a full run (medians, ratios, date,
commit, machine); README.md's benchmark table is :func:`markdown_table` of it, and
every ratio the README and CHANGELOG quote is computed from it by
``tests/test_published_figures.py``, so a figure cannot drift from the run it
came from. ``python benchmarks/published.py`` prints the table and the line
naming the run, for pasting into the README after a new run.

Stdlib only: compare.py imports it, and so do the tests.
"""

from __future__ import annotations

import json
import os
from typing import Any

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "published.json")

# The clients the README compares, in its order, with their labels there; a
# run without one of them leaves its rows out.
CLIENTS = {
    "sequential": "sequential",
    "threads": "threads (ThreadPoolExecutor + requests)",
    "grequests": "grequests (one shared Session)",
    "requests-futures": "requests-futures",
    "aiohttp": "aiohttp",
    "pycurl": "pycurl (libcurl multi)",
    "gfetch-urllib3": "gfetch (urllib3 transport)",
    "gfetch": "gfetch.map",
}
HIGHLIGHTED = "gfetch"  # its name and speed figures are set in bold
# Each scenario's title in the table; {n} and {concurrency} come from the run.
TITLES = {
    "throughput": "throughput: {n} × 200 B, {concurrency} in flight",
    "fanout": "fan-out: {n} × 200 ms, all in flight (wall time)",
    "memory": "memory: {n} held 2 s, all responses kept",
    "large": "large bodies: {n} × 64 KiB, {concurrency} in flight",
    "https": "HTTPS keep-alive: {n} × 200 B, {concurrency} in flight",
    "https_cold": "HTTPS cold: {n} handshakes, all in flight (wall time)",
}
WALL_TIME_SHOWN = {"fanout", "https_cold"}  # their req/s cells also show the wall time
# The ratio columns, ×a, ×g and ×c (a run without that peer leaves them "–"); peak RSS has no ×g.
PEERS = {"aiohttp": "x_aiohttp", "grequests": "x_grequests", "pycurl": "x_pycurl"}
RSS_PEERS = ("x_aiohttp", "x_pycurl")
VERSIONS = ("requests", "urllib3", "aiohttp", "libcurl")  # named with the run, after the static server


def load(path: str = PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return]


def from_report(report: dict[str, Any]) -> dict[str, Any]:
    """The published figures of a ``compare.py`` report (its JSON): a full run of a
    committed tree, as ``compare.py --publish`` checks before it starts."""
    info = report["machine"]
    kind = report["static_server"]
    scenarios = {}
    for name, table in report["summary"].items():
        spec = report["scenarios"][name]
        rows = {client: _row(table, client) for client in CLIENTS if "wall_s" in table.get(client, {})}
        scenarios[name] = {"n": spec["n"], "concurrency": spec["concurrency"], "rows": rows}
    return {
        "date": info["date"][:10],
        "commit": info["gfetch_commit"],
        "machine": f"{info['nproc']}-core {info['cpu']}",
        "python": info["python"],
        "static_server": kind.replace("/", " ") if kind != "built-in" else "the built-in static server",
        "versions": {name: report["versions"][name] for name in VERSIONS if name in report["versions"]},
        "repeat": report["repeat"],
        "scenarios": scenarios,
    }


def _row(table: dict[str, dict[str, Any]], client: str) -> dict[str, Any]:
    """One client's medians and its ratios to the peers (compare.py's medians of per-round ratios),
    rounded as the table shows them."""
    own = table[client]
    row: dict[str, Any] = {
        "rps": round(own["rps"]),
        "wall_s": round(own["wall_s"], 2),
        "cpu_us": round(own["cpu_us_per_req"]),
        "rss_mb": round(own["peak_rss_mb"], 1),
        "extrapolated": "extrapolated_from" in own,
    }
    for key in PEERS.values():
        if key in own:
            row[key] = {figure: round(own[key][figure], 2) for figure in ("rps", "cpu", "rss")}
    return row


def write(published: dict[str, Any], path: str = PATH) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(published, f, indent=2, ensure_ascii=False)
        f.write("\n")


def provenance(published: dict[str, Any]) -> str:
    """What was measured where, as the README names the run."""
    versions = "".join(f", {name} {version}" for name, version in published["versions"].items())
    return (
        f"Measured {published['date']} on a {published['machine']}, Python {published['python']}, "
        f"{published['static_server']}{versions}, gfetch {published['commit']}, "
        f"medians of {published['repeat']}"
    )


def markdown_table(published: dict[str, Any]) -> str:
    """README.md's benchmark table."""
    lines = [
        "| scenario | client | req/s | ×a | ×g | ×c | CPU µs/req | ×a | ×g | ×c | peak RSS MB | ×a | ×c |",
        "|---" * 13 + "|",
    ]
    for name, scenario in published["scenarios"].items():
        title = TITLES[name].format(n=f"{scenario['n']:,}", concurrency=scenario["concurrency"])
        for client, row in scenario["rows"].items():
            rps = f"{row['rps']} ({row['wall_s']:.2f} s)" if name in WALL_TIME_SHOWN else str(row["rps"])
            label = CLIENTS[client] + ("*" if row["extrapolated"] else "")
            speed = [
                label,
                rps,
                *[_ratio(row, key, "rps") for key in PEERS.values()],
                str(row["cpu_us"]),
                *[_ratio(row, key, "cpu") for key in PEERS.values()],
            ]
            if client == HIGHLIGHTED:
                speed = [f"**{cell}**" for cell in speed]
            cells = [title, *speed, f"{row['rss_mb']:.1f}", *[_ratio(row, key, "rss") for key in RSS_PEERS]]
            lines.append("| " + " | ".join(cells) + " |")
            title = ""
    return "\n".join(lines)


def _ratio(row: dict[str, Any], peer: str, figure: str) -> str:
    return f"{row[peer][figure]:.2f}" if peer in row else "–"


if __name__ == "__main__":
    figures = load()
    print(provenance(figures) + "\n\n" + markdown_table(figures))
