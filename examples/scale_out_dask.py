# requires: dask.bag from gfetch[dask]
"""Scale out with dask: split a URL list into partitions, fetch each with ``gfetch.map`` in a worker.

``dask.bag`` cuts 2,000 URLs into 8 partitions; ``map_partitions`` runs
``fetch_partition`` on each, inside a worker, where one ``gfetch.map`` call
fetches the whole partition concurrently on that worker's own hub. Workers
send back small summaries, never Response objects: results travel between
processes (or machines) pickled.

Scheduler: dask's local *processes* scheduler, 4 workers. A worker process
is the unit that scales: a hub is one OS thread, and under the GIL it tops
out at one to a few thousand requests per second of CPU, so more throughput
means more processes, not more threads. It is also what a dask.distributed
worker with ``--nthreads 1`` is, so this code runs on a cluster unchanged
(see docs/scale-out.md). ``python examples/scale_out_dask.py threads`` uses
the threaded scheduler instead: each worker thread gets a hub of its own on
first use, which starts faster but shares one core's worth of CPU. On a
small machine and a job this size, threads may well finish first: starting
four Python processes costs about a second. Processes pay off once a hub's
CPU is the limit.

Politeness limits are per process, so the example divides its per-host
budget by the number of workers. The server is gfetch's test server on
127.0.0.1, started here; each answer takes 100 ms.

Run: python examples/scale_out_dask.py [processes|threads]
"""

from __future__ import annotations

import argparse
import collections
import os
import threading
import time
from typing import Any

import dask.bag as db
import requests

import gfetch
from gfetch.testing import TestServer

URLS = 2000
PARTITIONS = 8  # more partitions than workers, so a slow one does not hold up the rest
WORKERS = 4  # on a real job, one per core: os.cpu_count()
SIZE = 100  # requests in flight in each worker: mind its file-descriptor limit
PER_HOST = 200  # what we allow ourselves against this host, across all workers
DELAY = 0.1


def fetch_partition(urls: list[str], per_host: int) -> list[dict[str, Any]]:
    """Fetch one partition inside a dask worker; one summary row per URL.

    The first gfetch call in a worker process or thread creates its hub;
    later partitions on the same worker reuse it and its pooled connections.
    """
    worker = f"pid {os.getpid()} / {threading.current_thread().name}"
    responses = gfetch.map(urls, size=SIZE, per_host=per_host, retries=2, return_exceptions=True)
    rows = []
    for url, response in zip(urls, responses, strict=True):
        if isinstance(response, requests.Response):
            rows.append(
                {"url": url, "status": response.status_code, "bytes": len(response.content), "worker": worker}
            )
        else:
            rows.append({"url": url, "status": None, "error": repr(response), "worker": worker})
    return rows


def main(scheduler: str) -> None:
    with TestServer() as server:
        urls = [server.url(f"/delay/{DELAY}?n={n}") for n in range(URLS)]
        bag = db.from_sequence(urls, npartitions=PARTITIONS)
        start = time.perf_counter()
        # chunksize=1: the processes scheduler otherwise hands tasks out 6 at a
        # time, which suits many tiny tasks; ours are few and long, and with 8
        # partitions it would leave two of the four workers idle.
        rows = bag.map_partitions(fetch_partition, per_host=PER_HOST // WORKERS).compute(
            scheduler=scheduler, num_workers=WORKERS, chunksize=1
        )
        elapsed = time.perf_counter() - start
    statuses = collections.Counter(row["status"] for row in rows)
    workers = collections.Counter(row["worker"] for row in rows)
    print(
        f"fetched {len(rows)} URLs in {PARTITIONS} partitions on {len(workers)} worker {scheduler} "
        f"in {elapsed:.2f} s, start-up included (one after another, the server's delays alone would add "
        f"up to {URLS * DELAY:.0f} s)"
    )
    print(f"per_host={PER_HOST // WORKERS} in each worker, {PER_HOST} across the {WORKERS} workers")
    print("status codes: " + ", ".join(f"{status}: {count}" for status, count in statuses.most_common()))
    for worker, count in sorted(workers.items()):
        print(f"  {worker}: {count} URLs")


if __name__ == "__main__":  # required: the processes scheduler re-imports this file in each worker
    parser = argparse.ArgumentParser(description="Fetch 2,000 URLs with gfetch.map in dask workers.")
    parser.add_argument(
        "scheduler",
        nargs="?",
        choices=["processes", "threads"],
        default="processes",
        help="dask's local scheduler (default processes)",
    )
    main(parser.parse_args().scheduler)
