"""bench_numpy.py -- numpy's float32 softmax on the shapes of bench_softmax.c.

softmax(x) = exp(x - max) / sum, row-wise, float32, written with out= into
preallocated arrays (every buffer, inputs, output and the per-row max/sum
vectors, is written once before timing). Each repetition times enough calls
to last >= 20 ms; the median repetition is reported.
Run single-threaded: bench/run.sh sets OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1
(and unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for this command only).

Output: RESULT numpy <n> <k> <median s/call> <min s/call>
"""
import sys
import time

import numpy as np

SHAPES = [(1, 1000), (1000000, 10), (100000, 100), (50000, 1000)]


def softmax_into(x, out, m, s):
    np.max(x, axis=1, keepdims=True, out=m)
    np.subtract(x, m, out=out)
    np.exp(out, out=out)
    np.sum(out, axis=1, keepdims=True, out=s)
    np.divide(out, s, out=out)


def bench(n, k, reps):
    rng = np.random.default_rng(1)
    x = rng.uniform(-4.0, 4.0, size=(n, k)).astype(np.float32)  # pre-touched
    out = np.zeros_like(x)                                       # pre-touched
    m = np.zeros((n, 1), np.float32)
    s = np.zeros((n, 1), np.float32)
    softmax_into(x, out, m, s)  # warm-up
    ref = np.exp(x[:3].astype(np.float64) - x[:3].max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    assert np.abs(out[:3] - ref).max() < 1e-6
    t0 = time.perf_counter()
    softmax_into(x, out, m, s)
    dt = time.perf_counter() - t0
    inner = 1 if dt >= 0.02 else int(0.02 / max(dt, 1e-7)) + 1
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            softmax_into(x, out, m, s)
        times.append((time.perf_counter() - t0) / inner)
    times.sort()
    print("RESULT numpy %d %d %.9g %.9g" % (n, k, times[len(times) // 2], times[0]), flush=True)


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    print("INFO numpy %s, float32, out= buffers pre-touched before timing" % np.__version__)
    for n, k in SHAPES:
        bench(n, k, reps)


if __name__ == "__main__":
    main()
