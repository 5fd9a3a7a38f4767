#!/usr/bin/env python3
"""proto_precond.py -- which preconditioner would shorten the k = 1000 Dirichlet fit's CG solves (issue 12, part 4).

A numpy prototype, not run by `make bench` (bench/README "Run 23"). It fits Dirichlet ODIR (lambda = mu = 10, the
bench's default case) with calib_fit on bench_matrix.py's synthetic data of shape (n, k), then runs preconditioned
conjugate gradients on the Hessian of the objective L at that optimum, the softmax gauge projected out (the mean over
classes of each column, as mx_ncg.c's F works off it), from zero, and prints how many steps each preconditioner needs
to bring the relative preconditioned residual sqrt(r'Mr / r0'Mr0) to 0.1 and to 1e-3, for a random right-hand side
and for b = H e with e random, with the extreme Ritz values of the run's Lanczos tridiagonal. Preconditioners:
  kfac        mx_kfac.c's M: A (x) C + I (x) Dp rescaled to H's exact diagonal (see that file);
  blocks      the exact per-class diagonal blocks sum_i h_ia f_i f_i' + diag(penalty) (mx_ncg.c's block Jacobi up to
              k = 200; k n d^2 flops a build), only when k <= 300;
  top-m       the same blocks from each class's m rows of largest h_ia only (leaving rows out only lowers M).
Usage: /usr/bin/python3 bench/proto_precond.py [n k [m,m,...]]   (default 2000 200 50,100,300; about 20 s;
       5000 500 125,250 takes about 2 minutes)
Ranges, checked before anything is built: 2 <= k <= MAX_K (each preconditioner with blocks keeps k Cholesky factors
of (k+1) x (k+1) doubles: 1 GB at k = 500), 2 <= n <= MAX_N, 1 <= m <= n. The problem (features, probabilities,
penalty) is test/py/test_matrix.py's Objective, the reference the matrix-family tests check the library against.
"""
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.linalg import cho_factor, cho_solve, eigh  # noqa: E402
from scipy.linalg.lapack import dstev  # noqa: E402
from scipy.special import softmax  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_matrix_scale as bms  # noqa: E402  (data, ctypes fit, the reference Objective)


MAX_K = 500
MAX_N = 200000


class Problem:
    """L's Hessian at the fitted optimum: h_i = (diag(q_i) - q_i q_i') / n on features f_i = (x_i, 1), with x_i, q_i
    and the ODIR penalty's coefficients those of the reference objective obj (test_matrix.Objective, Dirichlet)."""

    def __init__(self, obj, theta):
        n, k = obj.n, obj.k
        self.n, self.k, self.d = n, k, k + 1
        self.X = np.hstack([obj.X, np.ones((n, 1))])
        self.Q = softmax(obj.logits(theta, obj.X), axis=1)
        pc = np.full((k, k + 1), 2 * obj.lam / (k * (k - 1)))  # the penalty's curvature per entry (Objective's L)
        pc[np.arange(k), np.arange(k)] = 0.0
        pc[:, k] = 2 * obj.mu / k
        self.pc = pc
        self.h = self.Q * (1 - self.Q) / n  # h_ia, the diagonal of A_i
        self.Hd = self.h.T @ (self.X * self.X) + pc  # H's exact diagonal

    @staticmethod
    def proj(V):
        return V - V.mean(axis=0, keepdims=True)

    def hv(self, V):
        U = self.X @ V.T
        R = self.Q * U - self.Q * (self.Q * U).sum(1, keepdims=True)
        return self.proj(R.T @ self.X / self.n + self.pc * self.proj(V))


def kfac(p):
    n, k, X, Q = p.n, p.k, p.X, p.Q
    t = p.h.sum(1)
    A = (np.diag(Q.sum(0)) - Q.T @ Q) / n
    C = (X * t[:, None]).T @ X / t.sum()
    kmax = (np.diag(A)[:, None] * np.diag(C)[None, :]).max()
    Dp = np.maximum(p.pc.mean(0), 1e-10 * kmax)
    S = np.sqrt((np.diag(A)[:, None] * np.diag(C)[None, :] + Dp[None, :]) / p.Hd)
    l, U = eigh(A + np.trace(A) / k**2)
    g, V = eigh(C / np.sqrt(np.outer(Dp, Dp)))
    Wm = V / np.sqrt(Dp)[:, None]
    den = 1.0 + np.outer(np.maximum(l, 0), np.maximum(g, 0))
    return lambda R: p.proj(S * (U @ ((U.T @ (S * R) @ Wm) / den) @ Wm.T))


def blocks(p, m=None):
    fac = []
    for a in range(p.k):
        rows = np.argsort(p.h[:, a])[::-1][:m] if m else np.arange(p.n)
        Ma = (p.X[rows] * p.h[rows, a][:, None]).T @ p.X[rows] + np.diag(p.pc[a])
        fac.append(cho_factor(Ma + 1e-12 * np.trace(Ma) / p.d * np.eye(p.d)))
    return lambda R: p.proj(np.array([cho_solve(fac[a], R[a]) for a in range(p.k)]))


def held(p, m):
    """median over classes of the share of the class's curvature in its m rows of largest h_ia"""
    hs = -np.sort(-p.h, axis=0)
    return float(np.median(hs[:m].sum(0) / hs.sum(0)))


def pcg(p, minv, b, etas=(0.1, 1e-3), maxit=500):
    r = b.copy()
    zz = minv(r)
    d = zz.copy()
    rz = rz0 = float((r * zz).sum())
    steps, al_h, be_h = {}, [], []
    for it in range(1, maxit + 1):
        Hd = p.hv(d)
        al = rz / float((d * Hd).sum())
        r -= al * Hd
        zz = minv(r)
        rz1 = float((r * zz).sum())
        be = rz1 / rz
        d = zz + be * d
        rz = rz1
        al_h.append(al)
        be_h.append(be)
        for e in etas:
            if e not in steps and rz <= e * e * rz0:
                steps[e] = it
        if len(steps) == len(etas):
            break
    dg = np.array([1 / al_h[i] + (be_h[i - 1] / al_h[i - 1] if i else 0.0) for i in range(len(al_h))])
    of = np.array([np.sqrt(be_h[i]) / al_h[i] for i in range(len(al_h) - 1)])
    ev = dstev(dg, of)[0]
    return [steps.get(e) for e in etas], (ev[0], ev[-1])


def parse(a):
    """(n, k, [m, ...]) from the command line, each checked against its range (see the docstring)"""
    try:
        n, k = (int(a[0]), int(a[1])) if len(a) >= 2 else (2000, 200)
        ms = [int(v) for v in a[2].split(",")] if len(a) >= 3 else [50, 100, 300]
    except ValueError as e:
        sys.exit("proto_precond: n, k and m must be integers (%s)" % e)
    if not 2 <= k <= MAX_K:
        sys.exit("proto_precond: k = %d outside [2, %d]" % (k, MAX_K))
    if not 2 <= n <= MAX_N:
        sys.exit("proto_precond: n = %d outside [2, %d]" % (n, MAX_N))
    bad = [m for m in ms if not 1 <= m <= n]
    if bad:
        sys.exit("proto_precond: m = %s outside [1, n = %d]" % (bad, n))
    return n, k, ms


def main():
    n, k, ms = parse(sys.argv[1:])
    z, y = bms.make_data(n, k, 1)
    lib = bms.load_lib(os.path.join(HERE, "..", "lib", "libcalib.so"))
    st, secs, theta, rep = bms.ours(lib, "dirichlet", z, y, "odir")
    if st != 0:
        sys.exit("calib_fit failed with status %d" % st)
    lam, mu, _ = bms.REGS["odir"]
    p = Problem(bms.Objective("dirichlet", z, y, lam, mu, 0.0, 1), theta)
    print("Dirichlet ODIR (%d, %d): calib_fit %.1f s, gap %.2g; PCG steps to 0.1 and 1e-3 (random b / b = H e)"
          % (n, k, secs, rep["gap"]))
    rng = np.random.default_rng(5)
    rhs = [p.proj(rng.standard_normal((k, k + 1))), p.hv(p.proj(rng.standard_normal((k, k + 1))))]
    cases = [("kfac (mx_kfac.c)", kfac(p))]
    if k <= 300:
        cases.append(("blocks (exact)", blocks(p)))
    for m in ms:
        label = "top-%d rows a class (%.1f %% of rows, %.0f %% of curvature)" % (m, 100.0 * m / n, 100 * held(p, m))
        cases.append((label, blocks(p, m)))
    for name, minv in cases:
        (s1, s3), (lo, hi) = pcg(p, minv, rhs[0])
        (t1, t3), _ = pcg(p, minv, rhs[1])
        print("  %-58s %3s / %-3s  %4s / %-4s  Ritz %.3g .. %.3g" % (name, s1, t1, s3, t3, lo, hi))


if __name__ == "__main__":
    main()
