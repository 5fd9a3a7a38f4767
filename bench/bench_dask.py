"""calib.dask at scale (issue 13): N synthetic rows of k = 10 logits,
generated inside each partition on the worker that runs it and never
materialised anywhere else, streamed through calib.dask.evaluate (the
tao2024 equal-width measures: one Accumulator per bin count) and
calib.dask.fit(method="temperature") (one pass per Newton evaluation), on a
LocalCluster of 1 and then 2 worker processes (one thread each).

Prints, per worker count: wall time, passes over the data, rows per second
per worker (rows x passes / time / workers), and the driver's resident
memory before and after (it holds only the small merged summaries, so it
stays flat whatever N).

    PYTHONPATH=python /usr/bin/python3 bench/bench_dask.py [--rows 1e9] [--part 2e6] [--workers 1,2]
                                                          [--bins suite|15]
A real cluster: pass --scheduler tcp://host:8786 (then --workers is ignored).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "python"))

import dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import calib  # noqa: E402
import calib.dask as cdask  # noqa: E402

K = 10


def make_partition(seed, rows):
    """rows synthetic (logits, labels): independent uniform noise of standard
    deviation 2 per logit (uniform, not normal: numpy draws float32 uniforms
    7x faster than normals, and generation is repeated on every pass over the
    data), the true class boosted by 2, so T > 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, rows)
    z = rng.random((rows, K), dtype=np.float32)
    z -= np.float32(0.5)
    z *= np.float32(2.0 * np.sqrt(12.0))
    z[np.arange(rows), y] += np.float32(2.0)
    return z, y


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run(client, workers, rows, part, bins):
    nparts = int(np.ceil(rows / part))
    sizes = [part] * (nparts - 1) + [rows - part * (nparts - 1)]
    parts = [dask.delayed(make_partition, pure=True)(i, s) for i, s in enumerate(sizes)]
    m0 = rss_mib()
    t = time.perf_counter()
    r = cdask.evaluate(parts, k=K, bins=bins, client=client)
    t_eval = time.perf_counter() - t
    m1 = rss_mib()
    t = time.perf_counter()
    ts = cdask.fit(parts, method="temperature", client=client)
    t_fit = time.perf_counter() - t
    m2 = rss_mib()
    passes = ts.fit_report_["passes"]
    print("| %d | %.3g | %d | evaluate | %.1f s | 1 | %.3g | %.0f -> %.0f MiB | ece_ew_15 %.5f, count %d |"
          % (workers, rows, nparts, t_eval, rows / t_eval / workers, m0, m1, r.get("ece_ew_15", float("nan")),
             r["count"]))
    print("| %d | %.3g | %d | fit temperature | %.1f s | %d | %.3g | %.0f -> %.0f MiB | T %.9f |"
          % (workers, rows, nparts, t_fit, passes, rows * passes / t_fit / workers, m1, m2, ts.temperature_))
    sys.stdout.flush()
    return r, ts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=float, default=1e9)
    ap.add_argument("--part", type=float, default=2e6, help="rows per partition")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--bins", default="suite", help="'suite' (the 9 tao2024 bin counts) or a comma list")
    ap.add_argument("--scheduler", default=None, help="address of a running scheduler (a real cluster)")
    a = ap.parse_args()
    rows, part = int(a.rows), int(a.part)
    bins = list(cdask.SUITE_BINS) if a.bins == "suite" else [int(b) for b in a.bins.split(",")]
    print("calib.dask benchmark: %d rows x k = %d (float32 logits + int64 labels = %.1f GB, generated per "
          "partition), %d rows per partition, bins %s, libcalib %s (%s)"
          % (rows, K, rows * (4 * K + 8) / 1e9, part, bins, calib.library_version, calib.isa()))
    print()
    print("| workers | rows | partitions | what | time | passes | rows/s per worker | driver RSS | result |")
    print("|---|---|---|---|---|---|---|---|---|")
    if a.scheduler:
        with Client(a.scheduler) as client:
            run(client, len(client.scheduler_info()["workers"]), rows, part, bins)
        return 0
    for w in [int(x) for x in a.workers.split(",")]:
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            run(client, w, rows, part, bins)
    return 0


if __name__ == "__main__":
    sys.exit(main())
