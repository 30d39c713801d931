"""Crawl a paginated, linked JSON API with ``gfetch.crawl``.

A catalogue API lists its 95 items a page at a time; each page links to its
items and to the next page. ``gfetch.crawl`` fetches the seed pages, hands
every answer to ``follow``, which returns the links worth fetching next,
and fetches those, up to ``size`` at a time, until nothing new is left. A
page's successor is known only once the page arrives, so the pages form a
chain, but the items of each page are fetched while the next page loads.

The crawl starts from two listings of the same catalogue (10 and 25 items a
page), as a real API may list one item under several categories. Both link
to the same item URLs, and crawl fetches each URL once: it deduplicates by
method and URL (or by your ``key=``), and ``max_requests`` caps the whole
crawl in case a buggy API links in circles.

The API is gfetch's test server on 127.0.0.1, started here; each answer
takes 50 ms (``?delay=0.05``).

Run: python examples/crawl_json.py
"""

from __future__ import annotations

import argparse
import collections
import time
from typing import Any

import requests

import gfetch
from gfetch.testing import TestServer

DELAY = 0.05
LISTINGS = (10, 25)  # items per page of each listing


def follow(response: requests.Response) -> list[str]:
    """The links to crawl next: a page's items and the next page; an item has none."""
    if not response.ok:
        return []
    data = response.json()
    if "items" not in data:
        return []
    links = [item["url"] for item in data["items"]]
    return links + [data["next"]] if data["next"] else links


def main() -> None:
    items: dict[int, dict[str, Any]] = {}
    pages = item_links = fetched_items = 0
    with TestServer() as api:
        seeds = [api.url(f"/pages/1?per_page={n}&delay={DELAY}") for n in LISTINGS]
        start = time.perf_counter()
        for response in gfetch.crawl(seeds, follow, size=20, max_requests=1000):
            if not response.ok:
                print(f"  HTTP {response.status_code} {response.url}")
                continue
            data = response.json()
            if "items" in data:
                pages += 1
                item_links += len(data["items"])
            else:
                fetched_items += 1
                items[data["id"]] = data
        elapsed = time.perf_counter() - start
    print(
        f"crawled {pages} pages and {fetched_items} items in {elapsed:.2f} s "
        f"(one after another, the server's delays alone would add up to "
        f"{(pages + fetched_items) * DELAY:.2f} s)"
    )
    print(
        f"the pages held {item_links} item links; fetched {fetched_items}, "
        f"each item once: {fetched_items == len(items)}"
    )
    categories = collections.Counter(item["category"] for item in items.values())
    print("items by category: " + ", ".join(f"{name} {count}" for name, count in sorted(categories.items())))


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0].replace("``", "")).parse_args()  # --help
    main()
