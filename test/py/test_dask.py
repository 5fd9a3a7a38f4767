"""calib.dask (issue 13, part 4) on a LocalCluster of 2 worker processes:
evaluate equals the single-process suite/Accumulator (counts exact, the
measures to 1e-12 relative), fit equals TemperatureScaling/PlattScaling.fit
on the gathered rows to 1e-10 relative, isotonic on aggregated triples
equals the fit on the rows, dataframe and delayed-partition inputs, errors.

Needs dask and distributed (Debian python3-dask python3-distributed, which
.ci/deps.sh installs): without them this prints why and exits 77 locally,
1 in CI (CALIB_REQUIRE_SHARED=1 / CI=true)."""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datagate  # noqa: E402


datagate.require_modules(["dask", "distributed", "pandas"], "python3-dask python3-distributed python3-pandas")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import calib  # noqa: E402
import calib.dask as cdask  # noqa: E402

CLIENT = None


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def data(n, k, seed, scale=2.0, shift=2.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, max(k, 2), n)
    if k == 1:
        z = (rng.standard_normal(n) * scale + np.where(y == 1, shift, -shift) * 0.5).astype(np.float32)
    else:
        z = (rng.standard_normal((n, k)) * scale).astype(np.float32)
        z[np.arange(n), y] += shift
    return z, y


class TestEvaluate(unittest.TestCase):
    def test_suite_equal_to_single_process(self):
        z, y = data(30011, 10, 1)
        r = cdask.evaluate(da.from_array(z, chunks=(4000, 10)), da.from_array(y, chunks=7000), client=CLIENT,
                           accumulators=True)
        s = calib.tao2024(z, y)
        worst = 0.0
        for key, v in r.items():
            if key in s:
                worst = max(worst, rel(v, s[key]))
        self.assertLess(worst, 1e-12)
        self.assertEqual(r["count"], len(y))                      # counts: exact
        self.assertEqual(r["accuracy"], calib.accuracy(calib.softmax(z), y))
        keys = [key for key in s if key in r]
        self.assertEqual(len(keys), 29)                           # 9 x (ece_ew, cwece_ew, mce) + nll + brier_k
        one = calib.Accumulator(10, bins=15).add_logits(z, y)
        merged = r["accumulators"][15]
        # the binned sums themselves: reliability diagrams of the merged state vs one accumulator
        a, b = merged.reliability(), one.reliability()
        np.testing.assert_array_equal(a["count"], b["count"])
        np.testing.assert_allclose(a["conf"], b["conf"], rtol=1e-13, atol=0)
        np.testing.assert_allclose(a["acc"], b["acc"], rtol=1e-13, atol=0)
        print("evaluate: %d measures, worst relative difference to calib.tao2024 %.2e, counts exact"
              % (len(keys), worst))

    def test_dataframe_and_binary(self):
        z, y = data(5003, 3, 2)
        df = pd.DataFrame({"a": z[:, 0], "b": z[:, 1], "c": z[:, 2], "label": y})
        r = cdask.evaluate(dd.from_pandas(df, npartitions=3), label="label", bins=[15], client=CLIENT)
        s = calib.tao2024(z, y)
        self.assertLess(rel(r["ece_ew_15"], s["ece_ew_15"]), 1e-12)
        self.assertLess(rel(r["nll"], s["nll"]), 1e-12)
        zb, yb = data(4001, 1, 3)
        r = cdask.evaluate(da.from_array(zb, chunks=1000), da.from_array(yb, chunks=1000), client=CLIENT)
        s = calib.tao2024(zb, yb)
        self.assertLess(rel(r["nll"], s["nll"]), 1e-12)
        self.assertLess(rel(r["ece_ew_15"], s["ece_ew_15"]), 1e-12)

    def test_errors(self):
        z, y = data(1000, 4, 4)
        y[17] = 9
        with self.assertRaises(calib.CalibError) as cm:
            cdask.evaluate(da.from_array(z, chunks=300), da.from_array(y, chunks=300), client=CLIENT)
        self.assertEqual(cm.exception.code, calib.E_LABEL)
        with self.assertRaises(calib.CalibError):
            cdask.fit(da.from_array(z, chunks=300), da.from_array(y, chunks=300), method="matrix")


class TestFit(unittest.TestCase):
    def test_temperature(self):
        for k, seed in ((10, 5), (1, 6)):
            z, y = data(40009, k, seed)
            w = np.random.default_rng(seed).uniform(0, 2, len(y))
            for weights in (None, w):
                ref = calib.TemperatureScaling().fit(z, y, sample_weight=weights)
                dz = da.from_array(z, chunks=(6000,) + z.shape[1:])
                got = cdask.fit(dz, da.from_array(y, chunks=6000), method="temperature",
                                sample_weight=None if weights is None else da.from_array(weights, chunks=5000),
                                client=CLIENT)
                d = rel(got.temperature_, ref.temperature_)
                self.assertLess(d, 1e-10)
                p = got.predict_proba(z)
                np.testing.assert_allclose(p, ref.predict_proba(z), rtol=1e-6, atol=1e-7)
                print("temperature k=%d weights=%s: T %.12f vs %.12f, relative %.1e, %d passes"
                      % (k, weights is not None, got.temperature_, ref.temperature_, d, got.fit_report_["passes"]))

    def test_platt(self):
        for k, seed in ((1, 7), (4, 8)):
            z, y = data(30011, k, seed)
            w = np.random.default_rng(seed).uniform(0, 2, len(y))
            for weights, smooth in ((None, True), (w, True), (None, False)):
                ref = calib.PlattScaling(smooth_targets=smooth).fit(z, y, sample_weight=weights)
                got = cdask.fit(da.from_array(z, chunks=(7000,) + z.shape[1:]), da.from_array(y, chunks=7000),
                                method="platt", smooth_targets=smooth, client=CLIENT,
                                sample_weight=None if weights is None else da.from_array(weights, chunks=7000))
                d = max(rel(got.a_, ref.a_), rel(got.b_, ref.b_))
                self.assertLess(d, 1e-10)
                print("platt k=%d weights=%s smooth=%s: max relative difference of (A, B) %.1e"
                      % (k, weights is not None, smooth, d))

    def test_delayed_partitions(self):
        def make(seed):
            return data(3000, 5, seed)
        parts = [dask.delayed(make)(s) for s in range(4)]
        z = np.concatenate([data(3000, 5, s)[0] for s in range(4)])
        y = np.concatenate([data(3000, 5, s)[1] for s in range(4)])
        got = cdask.fit(parts, method="temperature", client=CLIENT)
        self.assertLess(rel(got.temperature_, calib.TemperatureScaling().fit(z, y).temperature_), 1e-10)
        r = cdask.evaluate(parts, k=5, bins=[15], client=CLIENT)
        self.assertLess(rel(r["ece_ew_15"], calib.tao2024(z, y)["ece_ew_15"]), 1e-12)

    def test_separable(self):
        z, y = data(2000, 3, 9, scale=0.1, shift=5.0)
        with self.assertRaises(calib.CalibError) as cm:
            cdask.fit(da.from_array(z, chunks=500), da.from_array(y, chunks=500), client=CLIENT)
        self.assertEqual(cm.exception.code, calib.E_SEPARABLE)


class TestIsotonic(unittest.TestCase):
    def test_quantised_triples_exact(self):
        z, y = data(20000, 1, 10)
        q = (np.round(z * 8) / 8).astype(np.float32)          # quantised scores: 1/8 steps
        yb = (y == 1).astype(np.int64)
        s, c, p = cdask.isotonic_triples(da.from_array(q, chunks=3000), da.from_array(yb, chunks=3000),
                                         client=CLIENT)
        self.assertEqual(c.sum(), len(q))
        self.assertEqual(p.sum(), yb.sum())
        got = cdask.fit_isotonic(s, c, p)
        ref = calib.IsotonicCalibration(input="scores").fit(q, yb)
        np.testing.assert_allclose(got.predict_proba(q), ref.predict_proba(q), rtol=0, atol=1e-7)
        grid = np.linspace(-12, 12, 1001).astype(np.float32)
        d = float(np.max(np.abs(got.predict_proba(grid) - ref.predict_proba(grid))))
        self.assertLess(d, 1e-7)
        print("isotonic: %d triples for %d rows; max |difference| on a grid %.1e" % (len(s), len(q), d))


def main():
    global CLIENT
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    try:
        CLIENT = Client(cluster)
        result = unittest.TextTestRunner(verbosity=1).run(unittest.defaultTestLoader.loadTestsFromModule(
            sys.modules[__name__]))
    finally:
        if CLIENT is not None:
            CLIENT.close()
        cluster.close()
    return datagate.finish(result)


if __name__ == "__main__":
    sys.exit(main())
