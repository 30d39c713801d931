"""examples/scale_out_dask.py's partition function on a real dask.distributed cluster.

A LocalCluster of two worker processes (one thread each), as
``dask worker --nworkers 2 --nthreads 1`` would start them, against gfetch's
test server on 127.0.0.1. The dask extra installs distributed; CI installs
the extra, so there a missing package fails instead of skipping.
"""

from __future__ import annotations

import collections
import os
import sys
from pathlib import Path

import pytest

if os.environ.get("CI"):
    import dask.bag as db
    from dask.distributed import Client, LocalCluster
else:
    db = pytest.importorskip("dask.bag")
    distributed = pytest.importorskip("dask.distributed")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

from gfetch.testserver import TestServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
URLS = 400
PARTITIONS = 8


@pytest.fixture
def fetch_partition(monkeypatch: pytest.MonkeyPatch):
    # The workers are spawned processes: they import the example by name, as the
    # client does, from the path they inherit (sys.path and PYTHONPATH).
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLES), *sys.path]))
    from scale_out_dask import fetch_partition

    return fetch_partition


@pytest.mark.keeps_fds  # distributed keeps its own loop, sockets and pipes for the rest of the process
def test_fetch_partition_on_a_two_process_local_cluster(fetch_partition) -> None:
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    with TestServer() as server, cluster, Client(cluster) as client:
        assert len(client.nthreads()) == 2
        urls = [server.url(f"/delay/0.05?n={n}") for n in range(URLS)]
        bag = db.from_sequence(urls, npartitions=PARTITIONS)
        rows = bag.map_partitions(fetch_partition, per_host=50).compute()
    assert sorted(row["url"] for row in rows) == sorted(urls)  # every URL, once
    assert collections.Counter(row["status"] for row in rows) == {200: URLS}
    workers = {row["worker"] for row in rows}
    assert len(workers) == 2, workers  # both worker processes fetched
    assert not any(worker.startswith(f"pid {os.getpid()} ") for worker in workers)
