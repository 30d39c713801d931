"""requests/s of examples/scale_out_dask.py's fetch_partition on a LocalCluster of 1 and of 2 workers.

Hand-run, never part of the tests. Each worker is a process with one thread
(``dask worker --nthreads 1``); the workload is CPU-bound: keep-alive GETs of
a 200-byte file from nginx (servers.py; the built-in server without it), so
a worker's hub, not the server, is the limit::

    python benchmarks/bench_dask.py [--urls 20000] [--repeat 3]

Needs the dask extra (dask[bag], distributed). Figures are the best of
``--repeat`` timed runs after a warm-up (worker start-up excluded); with as
many workers as cores, the server and the client share them, so the 2-worker
figure on a 2-core machine is a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import dask.bag as db
from dask.distributed import Client, LocalCluster
from servers import raise_fd_limit, servers

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def requests_per_second(client: Client, urls: list[str], workers: int, repeat: int) -> float:
    from scale_out_dask import fetch_partition

    def run(batch: list[str]) -> float:
        bag = db.from_sequence(batch, npartitions=4 * workers)
        start = time.perf_counter()
        rows = bag.map_partitions(fetch_partition, per_host=10_000).compute()
        elapsed = time.perf_counter() - start
        failed = [row for row in rows if row["status"] != 200]
        if failed:
            raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0]}")
        return len(rows) / elapsed

    run(urls[: len(urls) // 10])  # warm-up: hubs, pools and imports in every worker
    return max(run(urls) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--urls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    raise_fd_limit()
    sys.path.insert(0, str(EXAMPLES))
    # The spawned workers import it too.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(EXAMPLES), *sys.path])
    with servers() as base:
        urls = [f"{base['static']}/small.json?n={n}" for n in range(args.urls)]
        print(f"{args.urls} GETs of a 200-byte file from {base['static_kind']}, {os.cpu_count()} cores")
        for workers in (1, 2):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            )
            with cluster, Client(cluster) as client:
                rate = requests_per_second(client, urls, workers, args.repeat)
            print(f"{workers} worker process(es), 1 thread each: {rate:,.0f} requests/s")


if __name__ == "__main__":
    main()
