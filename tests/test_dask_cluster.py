"""examples/scale_out_dask.py's partition function on a real dask.distributed cluster.

A LocalCluster of two worker processes (one thread each), as
``dask worker --nworkers 2 --nthreads 1`` would start them, against gfetch's
test server on 127.0.0.1. dask is imported by the test (tests/_extras.py): a
missing extra skips it, a broken one fails it, and neither stops the run.
"""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path

import pytest
from _extras import require
from _stdlibserver import StdlibServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
URLS = 400
PARTITIONS = 8


@pytest.fixture
def dask_modules():
    """dask.bag and dask.distributed (the example imports dask.bag: import both first)."""
    return require("dask.bag", "dask"), require("dask.distributed", "dask")


@pytest.fixture
def fetch_partition(monkeypatch: pytest.MonkeyPatch, dask_modules):
    # The workers are spawned processes: they import the example by name, as the
    # client does, from the path they inherit (sys.path and PYTHONPATH).
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLES), *sys.path]))
    from scale_out_dask import fetch_partition

    return fetch_partition


@pytest.mark.keeps_fds  # distributed keeps its own loop, sockets and pipes for the rest of the process
def test_fetch_partition_on_a_two_process_local_cluster(fetch_partition, dask_modules) -> None:
    db, distributed = dask_modules
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    )
    with StdlibServer() as server, cluster, distributed.Client(cluster) as client:
        assert len(client.nthreads()) == 2
        urls = [server.url(f"/delay/0.05?n={n}") for n in range(URLS)]
        bag = db.from_sequence(urls, npartitions=PARTITIONS)
        rows = bag.map_partitions(fetch_partition, per_host=50).compute()
    assert sorted(row["url"] for row in rows) == sorted(urls)  # every URL, once
    assert collections.Counter(row["status"] for row in rows) == {200: URLS}
    workers = {row["worker"] for row in rows}
    assert len(workers) == 2, workers  # both worker processes fetched
    assert not any(worker.startswith(f"pid {os.getpid()} ") for worker in workers)
