"""Fan-out API aggregation: several JSON endpoints per item, merged into one record.

A product list needs three answers for each of 50 catalogue items: the
record (``/items/<id>``), its price and its stock, from an API that takes
50-100 ms per answer. One ``gfetch.map`` call sends all 150 requests, never
more than ``per_host=20`` at once to that host (be kind to other people's
servers), and returns the responses in input order, so merging is a ``zip``.

Reviews are nice to have: a second call fetches them under ``gtimeout=0.5``,
a bound on the whole call. Every tenth item's reviews stall for 3 s (the
example asks the server to stall them, standing in for a sick service); they
are cancelled at 0.5 s, come back as ``RequestCancelled`` thanks to
``return_exceptions=True``, and those records go without.

The API is gfetch's test server on 127.0.0.1, started here (its ``/items``
routes answer after ``?delay=`` seconds).

Run: python examples/aggregate_api.py
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import requests

import gfetch
from gfetch.testing import TestServer

ITEMS = 50
PER_HOST = 20
FACETS = {"": 0.05, "/price": 0.1, "/stock": 0.075}  # endpoint suffix -> its latency in seconds
REVIEWS_GTIMEOUT = 0.5
STALL = 3.0

Record = dict[str, Any]


def fetch_records(api: TestServer, session: gfetch.Session) -> dict[int, Record]:
    """Record, price and stock of every item, merged per item."""
    wanted = [(item, facet) for item in range(ITEMS) for facet in FACETS]
    urls = [api.url(f"/items/{item}{facet}?delay={FACETS[facet]}") for item, facet in wanted]
    start = time.perf_counter()
    responses = gfetch.map(
        urls,
        size=100,  # in flight in all...
        per_host=PER_HOST,  # ...but at most this many to any one host
        gtimeout=10,  # a safety net for the whole call
        return_exceptions=True,
        session=session,
    )
    elapsed = time.perf_counter() - start
    records: dict[int, Record] = {item: {} for item in range(ITEMS)}
    for (item, facet), response in zip(wanted, responses, strict=True):
        if isinstance(response, requests.Response) and response.ok:
            records[item].update(response.json())  # each part answers {"id": ..., its fields}
        else:  # an exception, or an HTTP error status
            records[item].setdefault("errors", []).append(f"{facet or 'record'}: {response!r}")
    delays = ITEMS * sum(FACETS.values())  # a sum, not a measurement: no sequential run is made
    print(
        f"core: {len(urls)} requests ({len(FACETS)} per item) in {elapsed:.2f} s; "
        f"one after another, the server's delays alone would add up to {delays:.2f} s"
    )
    print(f"connections the API saw at once: at most {api.peak_connections} (per_host={PER_HOST})")
    return records


def add_reviews(records: dict[int, Record], api: TestServer, session: gfetch.Session) -> None:
    """Best effort: the reviews that answer within the gtimeout, else None."""
    urls = [api.url(f"/items/{item}/reviews?delay={STALL if item % 10 == 0 else 0.05}") for item in records]
    start = time.perf_counter()
    results = gfetch.map(
        urls, per_host=PER_HOST, gtimeout=REVIEWS_GTIMEOUT, return_exceptions=True, session=session
    )
    elapsed = time.perf_counter() - start
    cancelled = []
    for item, result in zip(records, results, strict=True):
        records[item]["reviews"] = None
        if isinstance(result, requests.Response) and result.ok:
            records[item]["reviews"] = {k: v for k, v in result.json().items() if k != "id"}
        elif isinstance(result, gfetch.RequestCancelled):
            cancelled.append(item)
        else:
            records[item].setdefault("errors", []).append(f"reviews: {result!r}")
    print(
        f"optional: {len(records) - len(cancelled)} reviews in time, {len(cancelled)} cancelled by "
        f"gtimeout={REVIEWS_GTIMEOUT} s (items {', '.join(map(str, cancelled))}); took {elapsed:.2f} s"
    )


def main() -> None:
    with TestServer() as api, gfetch.Session() as session:
        records = fetch_records(api, session)
        add_reviews(records, api, session)
    complete = sum(1 for record in records.values() if "errors" not in record and "in_stock" in record)
    print(f"merged {len(records)} records, {complete} complete; for example:")
    for item in (7, 10):
        print("  " + json.dumps(records[item]))


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0].replace("``", "")).parse_args()  # --help
    main()
