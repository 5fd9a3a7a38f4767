"""Fits that prove they reached the optimum, or say why not (issue 14).

Matrix scaling (unregularised, k = 10) on constructed ill-conditioned logits:
rows whose sum is nearly constant, z = random, minus the row mean, plus a
per-row constant s_i = -0.05 + u_i (u_i uniform in +-spread), so the feature
rows [z_i, 1] are nearly collinear (the shipped-style ResNet-50 rows sum to
-0.050 +- 0.004). Softmax is unchanged by the shift, so the labels drawn from
softmax(z / 1.5) stay a realistic calibration problem. With spread 0.0002 the
Hessian at the optimum has condition >= 1e12 (asserted below from the
reference's own Hessian); with the issue's +-0.004 about 1e10.

The reference is independent of the library: scipy.optimize.minimize,
method "trust-exact", analytic gradient and Hessian in numpy, gtol 1e-15 (it
stops on its own rounding limit), in the reduced parametrisation theta_{k-1}
= 0 (dirichletcal's ref_row: removes the softmax gauge, which changes no
probability, so the minimum value is the same).

Checked: the library's NLL is within 1e-9 relative of scipy's minimum on the
Newton path (default) and on the L-BFGS path (newton_max = 0); its report
states the gradient, the estimated gap (<= tol^2 max(1, L), the stopping
rule), and a condition number above CALIB_ILL_CONDITIONED; on the Newton path
the condition number equals numpy's eigenvalue ratio of the full Hessian at
the library's own optimum, gauge directions left out.
On the Newton-CG path with float32 products (12000 x 20 logits whose columns
span two decades of scale, condition ~1e5 > CALIB__LANCZOS_F32_MAX), the
reported condition is a lower bound within 20 % of numpy's eigenvalue ratio:
there the float Lanczos estimate is confirmed by a double Rayleigh quotient.
Before this change the default fit stopped at 1.1e-7 (relative) above the
minimum on the spread-0.0002 case (4 Newton steps, gradient 1.5e-7).

Run from the repository root: PYTHONPATH=python /usr/bin/python3 test/py/test_gap.py
"""
import os
import sys
import unittest

try:
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import logsumexp, softmax
except ImportError as e:  # pragma: no cover
    print("skipped: needs numpy and scipy (%s)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctlib  # noqa: E402
import datagate  # noqa: E402

C = ctlib.C
R_IT, R_AFTER, R_GRAD, R_GAP, R_COND = (C["CALIB_R_ITERATIONS"], C["CALIB_R_NLL_AFTER"], C["CALIB_R_GRADIENT"],
                                       C["CALIB_R_GAP"], C["CALIB_R_CONDITION"])
ILL = 1e9  # CALIB_ILL_CONDITIONED (a double macro: not in ctlib.C)
P_TOL, P_NEWTON_MAX = C["CALIB_P_TOL"], C["CALIB_P_NEWTON_MAX"]


def construct(seed, n=5000, k=10, scale=16.0, spread=0.0002):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, scale, (n, k))
    y = np.array([rng.choice(k, p=p) for p in softmax(z / 1.5, axis=1)])
    s = -0.05 + spread * rng.uniform(-1, 1, n)
    z = z - z.mean(axis=1, keepdims=True) + (s / k)[:, None]
    return z.astype(np.float32), y.astype(np.int64)


def reduced_problem(X, y, k):
    """NLL of softmax(theta f), theta_{k-1} = 0; value, gradient, Hessian."""
    n, d = X.shape
    Y = np.zeros((n, k))
    Y[np.arange(n), y] = 1

    def full(t):
        return np.vstack([t.reshape(k - 1, d), np.zeros((1, d))])

    def f(t):
        A = X @ full(t).T
        return float(np.mean(logsumexp(A, axis=1) - A[np.arange(n), y]))

    def g(t):
        return (((softmax(X @ full(t).T, axis=1) - Y) / n).T @ X)[:k - 1].ravel()

    def h(t):
        Pm = softmax(X @ full(t).T, axis=1)
        H = np.zeros(((k - 1) * d, (k - 1) * d))
        for a in range(k - 1):
            for c in range(a, k - 1):
                coef = ((Pm[:, a] if a == c else 0) - Pm[:, a] * Pm[:, c]) / n
                B = (X * coef[:, None]).T @ X
                H[a * d:(a + 1) * d, c * d:(c + 1) * d] = B
                H[c * d:(c + 1) * d, a * d:(a + 1) * d] = B.T
        return H
    return f, g, h


def scipy_minimum(z, y, k):
    """(min NLL, condition number of the reduced Hessian there)."""
    X = np.column_stack([z.astype(np.float64), np.ones(len(y))])
    f, g, h = reduced_problem(X, y, k)
    t0 = np.zeros((k, k + 1))
    t0[:, :k] = np.eye(k)
    t0 = (t0 - t0[-1])[:k - 1].ravel()  # the identity map in the reduced gauge
    r = minimize(f, t0, jac=g, hess=h, method="trust-exact", options={"gtol": 1e-15, "maxiter": 10000})
    ev = np.linalg.eigvalsh(h(r.x))
    return r.fun, ev[-1] / ev[0]


def full_condition(z, y, W, b, fs):
    """Condition number of the full (k^2 + k) Hessian of the mean NLL at (W, b) in
    the solver's coordinates (features z * fs, weights W / fs), the k + 1 exact
    gauge zeros left out: what the Newton path reports."""
    n, k = z.shape
    X = np.column_stack([z.astype(np.float64) * fs, np.ones(n)])
    Pm = softmax(z.astype(np.float64) @ W.T + b, axis=1)
    d = k + 1
    H = np.zeros((k * d, k * d))
    for a in range(k):
        for c in range(k):
            coef = ((Pm[:, a] if a == c else 0) - Pm[:, a] * Pm[:, c]) / n
            H[a * d:(a + 1) * d, c * d:(c + 1) * d] = (X * coef[:, None]).T @ X
    ev = np.linalg.eigvalsh(H)[d:]
    return ev[-1] / ev[0]


def feature_scale(z):
    """The power of two the matrix fitter multiplies features by (calib.h, Scale)."""
    rms = np.sqrt(np.mean(z.astype(np.float64) ** 2))
    if 1 / 16 <= rms <= 16:
        return 1.0
    return 2.0 ** -np.frexp(rms)[1]


MATRIX = ctlib.matrix_family_built()
NO_MATRIX = "vector/matrix/Dirichlet are not in this build (NO_BLAS): CALIB_E_UNSUPPORTED checked"


def fit(z, y, opts=()):
    st, m, k, rep = ctlib.fit(C["CALIB_METHOD_MATRIX"], z, y, None, opts, (R_IT, R_AFTER, R_GRAD, R_GAP, R_COND))
    return st, m, rep


@unittest.skipUnless(MATRIX, NO_MATRIX)
class TestIllConditionedMatrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cases = {}
        for spread in (0.0002, 0.004):
            z, y = construct(1, spread=spread)
            cls.cases[spread] = (z, y) + scipy_minimum(z, y, 10)

    def check(self, spread, opts, label):
        z, y, fmin, cond_ref = self.cases[spread]
        st, m, rep = fit(z, y, opts)
        try:
            self.assertEqual(st, 0, label)
            rel = (rep[R_AFTER] - fmin) / fmin
            print("  %-34s spread %.4f: %3d it, NLL %.15f vs scipy %.15f (rel %+.1e), gradient %.1e, est. gap %.1e, "
                  "condition %.2e (scipy's reduced Hessian: %.2e)"
                  % (label, spread, rep[R_IT], rep[R_AFTER], fmin, rel, rep[R_GRAD], rep[R_GAP], rep[R_COND], cond_ref),
                  file=sys.stderr)
            self.assertLessEqual(rel, 1e-9, label)
            self.assertLessEqual(rep[R_GRAD], 1e-6)
            self.assertLessEqual(rep[R_GAP], 1e-12 * max(1.0, rep[R_AFTER]))
            self.assertGreaterEqual(rep[R_GAP], 0.0)
            return m, rep
        except Exception:
            ctlib.lib.calib_model_free(m)
            raise

    def test_condition_of_the_construction(self):
        self.assertGreaterEqual(self.cases[0.0002][3], 1e12)
        self.assertGreaterEqual(self.cases[0.004][3], 1e9)

    def test_newton(self):
        for spread in (0.0002, 0.004):
            m, rep = self.check(spread, (), "newton (default)")
            z, y = self.cases[spread][:2]
            W = ctlib.param(m, C["CALIB_MP_MATRIX_W"]).reshape(10, 10)
            b = ctlib.param(m, C["CALIB_MP_BIAS"])
            ctlib.lib.calib_model_free(m)
            cond = full_condition(z, y, W, b, feature_scale(z))
            np.testing.assert_allclose(rep[R_COND], cond, rtol=0.05)
            self.assertGreater(rep[R_COND], ILL)

    def test_newton_cg(self):
        # newton_max 0: the iterative path (Newton-CG since issue 12 part 4; L-BFGS only as its fallback)
        for spread in (0.0002, 0.004):
            m, rep = self.check(spread, ((P_NEWTON_MAX, 0),), "newton-cg (newton_max 0)")
            ctlib.lib.calib_model_free(m)
            self.assertGreater(rep[R_COND], 1e8)  # a lower bound (Lanczos)
        m, rep = self.check(0.0002, ((P_NEWTON_MAX, 0), (P_TOL, 1e-8)), "newton-cg, tol 1e-8")
        ctlib.lib.calib_model_free(m)
        self.assertGreater(rep[R_COND], ILL)


    def test_newton_cg_condition_float_products(self):
        # Newton-CG with float32 products (n k (k+1) >= 2^22, well-conditioned
        # feature correlations): the Lanczos estimate on float products is
        # above CALIB__LANCZOS_F32_MAX (1e4), so mx_gap.c confirms its
        # smallest Ritz value by a double Rayleigh quotient. Columns of the
        # logits scaled over two decades give a Hessian condition ~1e5.
        r = np.random.default_rng(3)
        n, k = 12000, 20
        y = r.integers(0, k, n)
        z = r.normal(0, 1, (n, k))
        z[np.arange(n), y] += 1.0
        z = np.ascontiguousarray(z * np.geomspace(0.01, 1, k) + r.normal(0, 0.5, k), dtype=np.float32)
        st, m, kk, rep = ctlib.fit(C["CALIB_METHOD_MATRIX"], z, y.astype(np.int64), None, ((P_NEWTON_MAX, 0),),
                                   (R_COND,))
        self.assertEqual(st, 0)
        W = ctlib.param(m, C["CALIB_MP_MATRIX_W"]).reshape(k, k)
        b = ctlib.param(m, C["CALIB_MP_BIAS"])
        ctlib.lib.calib_model_free(m)
        ref = full_condition(z, y, W, b, feature_scale(z))
        print("  newton-cg, float products: condition %.4e, numpy's eigenvalues %.4e" % (rep[R_COND], ref),
              file=sys.stderr)
        self.assertGreater(ref, 1e4)  # the case exercises the check
        self.assertLessEqual(rep[R_COND], ref * (1 + 1e-6))  # Lanczos: a lower bound
        self.assertGreaterEqual(rep[R_COND], 0.8 * ref)


SHIPPED = os.path.join("data", "cifar10_densenet40_markus93")


def shipped(split):
    z = np.load(os.path.join(SHIPPED, split, "logits.npy")).astype(np.float32)
    return z, np.load(os.path.join(SHIPPED, split, "labels.npy")).astype(np.int64)


def report_of(method, z, y, opts=()):
    st, m, k, rep = ctlib.fit(C[method], z, y, None, opts, (R_IT, R_AFTER, R_GRAD, R_GAP, R_COND))
    return st, m, rep


class TestReportItems(unittest.TestCase):
    """CALIB_R_GAP / CALIB_R_CONDITION of the other fitters against closed forms."""

    def test_temperature(self):
        z, y = shipped("val")
        st, m, rep = report_of("CALIB_METHOD_TEMPERATURE", z, y)
        self.assertEqual(st, 0)
        T = ctlib.param(m, C["CALIB_MP_TEMPERATURE"])[0]
        ctlib.lib.calib_model_free(m)
        zz = z.astype(np.float64)
        P = softmax(zz / T, axis=1)
        Ez = np.sum(P * zz, axis=1)
        G = np.mean(Ez - zz[np.arange(len(y)), y])  # dL/dbeta
        H = np.mean(np.sum(P * zz ** 2, axis=1) - Ez ** 2)
        self.assertEqual(rep[R_COND], 1.0)
        self.assertLessEqual(abs(rep[R_GAP] - G * G / (2 * H)), 1e-20)
        self.assertLess(rep[R_GAP], 1e-20)

    def test_platt_condition(self):
        z, y = shipped("val")
        x = (z[:, 0] - logsumexp(np.delete(z.astype(np.float64), 0, axis=1), axis=1)).astype(np.float32)
        yb = (y == 0).astype(np.int64)
        x = x / 8  # RMS inside [1/16, 16]: the solver's coordinates are the score's own
        st, m, rep = report_of("CALIB_METHOD_PLATT", x, yb)
        self.assertEqual(st, 0)
        A, B = ctlib.param(m, C["CALIB_MP_PLATT"])
        ctlib.lib.calib_model_free(m)
        self.assertLessEqual(np.sqrt(np.mean(x.astype(np.float64) ** 2)), 16)
        F = np.column_stack([x.astype(np.float64), np.ones(x.size)])
        p = 1 / (1 + np.exp(A * F[:, 0] + B))
        ev = np.linalg.eigvalsh((F * (p * (1 - p))[:, None]).T @ F)
        np.testing.assert_allclose(rep[R_COND], ev[-1] / ev[0], rtol=1e-6)
        self.assertLess(rep[R_GAP], 1e-10)

    def test_not_computed(self):
        z, y = shipped("val")
        st, m, rep = report_of("CALIB_METHOD_ISOTONIC", z, y)
        ctlib.lib.calib_model_free(m)
        self.assertTrue(np.isnan(rep[R_GAP]) and np.isnan(rep[R_COND]))

    def test_every_iterative_fitter(self):
        z, y = shipped("val")
        for meth in ("TEMPERATURE", "PLATT", "BETA", "ETS") + (("VECTOR", "MATRIX", "DIRICHLET") if MATRIX else ()):
            st, m, rep = report_of("CALIB_METHOD_" + meth, z, y)
            ctlib.lib.calib_model_free(m)
            self.assertEqual(st, 0, meth)
            self.assertTrue(np.isfinite(rep[R_GAP]) and rep[R_GAP] >= 0, meth)
            self.assertTrue(rep[R_COND] >= 1, meth)

    @unittest.skipUnless(MATRIX, NO_MATRIX)
    def test_cli_and_python(self):
        import json
        import subprocess
        import tempfile
        z, y = construct(1)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "z.npy"), z)
            np.save(os.path.join(tmp, "y.npy"), y)
            r = subprocess.run([os.path.join("bin", "calib"), "fit", "--method", "matrix", "--logits",
                                os.path.join(tmp, "z.npy"), "--labels", os.path.join(tmp, "y.npy"),
                                "-o", os.path.join(tmp, "m.calib"), "--json"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertGreater(j["condition"], ILL)
        self.assertEqual(j["ill_conditioned"], 1)
        self.assertLess(j["gap"], 1e-12)
        self.assertLess(j["gradient"], 1e-6)
        self.assertIn("warning: ill-conditioned", r.stderr)
        self.assertIn("add ODIR or L2", r.stderr)
        try:
            sys.path.insert(0, "python")
            import calib
        except ImportError:  # pragma: no cover
            return
        est = calib.MatrixScaling().fit(z, y)
        self.assertTrue(est.fit_report_["ill_conditioned"])
        self.assertGreater(est.fit_report_["condition"], ILL)
        self.assertLess(est.fit_report_["gap"], 1e-12)
        est = calib.TemperatureScaling().fit(*shipped("val"))
        self.assertFalse(est.fit_report_["ill_conditioned"])
        self.assertEqual(est.fit_report_["condition"], 1.0)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=1)
    sys.exit(datagate.finish(prog.result))
