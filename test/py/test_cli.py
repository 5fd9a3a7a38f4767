"""test_cli.py -- the `calib` command end to end (stdlib + numpy only).

Runs bin/calib (built by `make all`; CALIB_CLI=path overrides, e.g. for a
sanitizer build) on synthetic data written with np.save, and checks:
  - the JSON fields of fit / eval / info;
  - fit -> apply -> eval against an independent numpy computation: the
    temperature from a numpy Newton solve on the mean NLL, softmax(z / T),
    NLL, Brier, ECE/MCE (top-label, equal-width bins (b/M, (b+1)/M], 0 in
    bin 0) computed here;
  - that apply writes the same bytes np.save writes;
  - every error case: one line "calib: <file>: ..." on stderr, exit status
    1 (data) or 2 (usage), no output file after a failed run, an existing
    output file untouched, no temporary file left behind;
  - with ../shared/data present: fit + eval on the raw cifar10_densenet40
    val/test pair (--k 10) against REFERENCE.json.
Exit 0 on success, 1 on failure.
"""
import glob
import json
import os
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

import datagate  # noqa: E402  (honest skips: test/py/datagate.py)

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("CALIB_CLI", os.path.join(ROOT, "bin", "calib"))
SHARED = os.environ.get("CALIB_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
DENSENET = "cifar10_densenet40_markus93"


def run(*args, cwd=None):
    return subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, cwd=cwd)


# ---- independent numpy references ----------------------------------------------

def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def nll_logits(z, y):
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        s = np.where(y == 1, 1.0, -1.0) * z
        return float(np.mean(np.logaddexp(0.0, -s)))
    m = z.max(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def nll_grad_beta(z, y, w, beta):
    """d/dbeta of the weighted mean NLL of softmax(beta z) (sigmoid for 1-D z):
    E_p[z] - z_y per row. Increasing in beta (the NLL is convex in beta)."""
    if z.ndim == 1:
        s = np.where(y == 1, 1.0, -1.0)
        return np.sum(w * (-s * z * sigmoid(-s * beta * z)))
    p = softmax(beta * z)
    return np.sum(w * ((p * z).sum(axis=1) - z[np.arange(len(y)), y]))


def temperature_ref(z, y, w=None):
    """The optimal temperature T = 1/beta: root of the (monotone) derivative
    of the weighted mean NLL in beta, by bisection on log beta to machine
    precision."""
    z = np.asarray(z, dtype=np.float64)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
    w = w / w.sum()
    lo, hi = np.log(1e-4), np.log(1e4)
    assert nll_grad_beta(z, y, w, np.exp(lo)) < 0 < nll_grad_beta(z, y, w, np.exp(hi))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if nll_grad_beta(z, y, w, np.exp(mid)) < 0:
            lo = mid
        else:
            hi = mid
    return float(np.exp(-0.5 * (lo + hi)))


def probs_top(p):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 1:
        return (p > 0.5).astype(np.int64), np.maximum(p, 1.0 - p)
    return p.argmax(axis=1), p.max(axis=1)


def metrics_ref(p, y, bins):
    """accuracy, nll, brier, ece, mce of probabilities p (float64 math)."""
    p = np.asarray(p, dtype=np.float64)
    n = len(y)
    if p.ndim == 1:
        pt = np.where(y == 1, p, 1.0 - p)
        brier = float(np.mean((p - y) ** 2))
    else:
        pt = p[np.arange(n), y]
        onehot = np.zeros_like(p)
        onehot[np.arange(n), y] = 1.0
        brier = float(np.mean(((p - onehot) ** 2).sum(axis=1)))
    pred, conf = probs_top(p)
    correct = (pred == y).astype(np.float64)
    upper = np.arange(1, bins + 1, dtype=np.float64) / bins  # bin b = (b/M, (b+1)/M]
    b = np.searchsorted(upper, conf, side="left")              # conf = 0 -> bin 0
    ece, mce = 0.0, 0.0
    for i in range(bins):
        m = b == i
        if m.any():
            gap = abs(correct[m].mean() - conf[m].mean())
            ece += m.sum() / n * gap
            mce = max(mce, gap)
    with np.errstate(divide="ignore"):
        nll = float(-np.mean(np.log(pt)))
    return dict(accuracy=float(correct.mean()), nll=nll, brier=brier, ece=ece, mce=mce)


def model_bytes(method, k, sections):
    """Model bytes from the layout documented in src/model/format.c (an
    independent writer: little-endian, zlib CRC-32), sections = [(tag, float64 array)]."""
    table, data = b"", b""
    for tag, v in sections:
        v = np.ascontiguousarray(v, dtype="<f8").ravel()
        table += struct.pack("<IIQ", tag, 1, v.size)
        data += v.tobytes()
    payload = struct.pack("<QII", k, len(sections), 0) + table + data
    head = b"CALIBMDL" + struct.pack("<IIQI", 1, method, len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


# ---- the tests -------------------------------------------------------------------

class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="test_cli.")
        cls.d = cls.tmp.name
        rng = np.random.default_rng(20240601)  # fixed: results are reproducible
        n, k = 3000, 4
        z = (rng.normal(size=(n, k)) * 3.0).astype(np.float32)
        p = softmax(z / 2.5)  # true temperature 2.5
        y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1).astype(np.int64)
        cls.z, cls.y, cls.n, cls.k = z, y, n, k
        np.save(cls.path("z.npy"), z)
        np.save(cls.path("y.npy"), y)
        zb = (rng.normal(size=n) * 4.0).astype(np.float32)
        yb = (rng.random(n) < sigmoid(zb / 1.7)).astype(np.int64)
        cls.zb, cls.yb = zb, yb
        np.save(cls.path("zb.npy"), zb)
        np.save(cls.path("yb.npy"), yb)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def path(cls, name):
        return os.path.join(cls.d, name)

    # helpers
    def ok(self, *args):
        r = run(*args)
        self.assertEqual(r.returncode, 0, "calib %s failed: %s" % (" ".join(map(str, args)), r.stderr))
        self.assertEqual(r.stderr, "")
        return r.stdout

    def ok_json(self, *args):
        out = self.ok(*args, "--json")
        self.assertEqual(out.count("\n"), 1, "one JSON object on one line: %r" % out)
        return json.loads(out)

    def fails(self, status, where, msg, *args):
        """Expects exit `status` and ONE stderr line 'calib: <where>: ...msg...'."""
        r = run(*args)
        self.assertEqual(r.returncode, status, "calib %s: %r" % (" ".join(map(str, args)), r.stderr))
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("calib: %s: " % where), lines[0])
        self.assertIn(msg, lines[0])
        self.assertEqual(r.stdout, "")
        return lines[0]

    def no_temp_files(self):
        self.assertEqual(glob.glob(self.path("*.tmp.*")), [])

    def fit_json(self, logits, labels, out, *extra):
        return self.ok_json("fit", "--method", "temperature", "--logits", logits, "--labels", labels,
                            "-o", out, *extra)

    # -- basics
    def test_version_help(self):
        self.assertTrue(self.ok("--version").startswith("calib 0."))
        for args in (["--help"], ["help"], ["-h"]):
            self.assertIn("usage: calib", self.ok(*args))
        for cmd in ("fit", "apply", "eval", "info"):
            self.assertIn("usage: calib " + cmd, self.ok("help", cmd))
            self.assertIn("usage: calib " + cmd, self.ok(cmd, "--help"))
        self.assertIn("temperature", self.ok("help", "fit"))
        r = run()
        self.assertEqual(r.returncode, 2)
        self.fails(2, "fit", "unknown option '--frobnicate'", "fit", "--frobnicate")
        r = run("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command", r.stderr)

    # -- model provenance (format version 2), as `calib info` shows it
    def check_provenance(self, info, human, p, z, y, tag):
        """info (--json) and human of a model fitted on (z, y) whose apply
        output on z is p: every recorded value against numpy here."""
        n, k = len(y), (z.shape[1] if z.ndim == 2 else 1)
        kc = max(k, 2)
        self.assertEqual(list(info)[5:], ["created_unix", "created", "tag", "n", "nll_before", "ece_before",
                                          "brier_before", "nll_after", "ece_after", "brier_after",
                                          "has_reference", "prior", "confidence_hist", "class_hist"])
        self.assertEqual((info["n"], info["tag"], info["has_reference"]), (n, tag, 1))
        self.assertLessEqual(abs(info["created_unix"] - time.time()), 600)
        self.assertEqual(info["created"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(info["created_unix"])))
        before = softmax(z) if z.ndim == 2 else sigmoid(z)
        rb, ra = metrics_ref(before, y, 15), metrics_ref(p, y, 15)
        self.assertAlmostEqual(info["nll_before"], nll_logits(z, y), delta=1e-6)
        self.assertAlmostEqual(info["ece_before"], rb["ece"], delta=1e-5)
        self.assertAlmostEqual(info["brier_before"], rb["brier"], delta=1e-6)
        for key in ("nll", "ece", "brier"):
            self.assertAlmostEqual(info[key + "_after"], ra[key], delta=1e-12, msg=key)
        self.assertEqual(info["prior"], list(np.bincount(y, minlength=kc) / n))
        pred, conf = probs_top(np.asarray(p, np.float64))
        self.assertEqual(info["class_hist"], list(np.bincount(pred, minlength=kc)))
        b = np.searchsorted(np.arange(1, 21) / 20.0, conf, side="left")
        self.assertEqual(info["confidence_hist"], list(np.bincount(b, minlength=20)))
        for line in ("created          " + info["created"], "tag              " + (tag or "(none)"),
                     "n                %d" % n, "nll_after        %.17g" % info["nll_after"],
                     "confidence_hist  " + " ".join("%d" % c for c in info["confidence_hist"])):
            self.assertIn(line + "\n", human)
        self.assertRegex(human, r"\n {17}\|[ .:=+*#%@-]{20}\|\n")  # the one-character-per-bin bar

    def test_provenance_options(self):
        z, y = self.path("z.npy"), self.path("y.npy")
        tagged, plain = self.path("tagged.calib"), self.path("plain.calib")
        self.ok("fit", "--method", "temperature", "--logits", z, "--labels", y, "-o", tagged,
                "--tag", "run 42 \u00e9t\u00e9")
        info = self.ok_json("info", tagged)
        self.assertEqual((info["format_version"], info["tag"]), (2, "run 42 \u00e9t\u00e9"))
        self.ok("fit", "--method", "temperature", "--logits", z, "--labels", y, "-o", plain, "--no-provenance")
        info = self.ok_json("info", plain)
        self.assertEqual((info["format_version"], info["has_reference"], info["tag"], info["n"], info["created"]),
                         (1, 0, "", 0, None))
        for key in ("nll_before", "ece_after"):
            self.assertIsNone(info[key])
        self.assertIn("provenance       none (format version 1)", self.ok("info", plain))
        # version 1 is the bytes of the independent writer for the fitted T
        T = info["temperature"]
        with open(plain, "rb") as f:
            self.assertEqual(f.read(), model_bytes(1, self.k, [(1, [T])]))
        self.fails(2, "fit", "--tag needs provenance", "fit", "--method", "temperature", "--logits", z,
                   "--labels", y, "-o", plain, "--no-provenance", "--tag", "x")
        self.fails(2, "fit", "--tag: must be valid UTF-8 of at most 255 bytes", "fit", "--method", "temperature",
                   "--logits", z, "--labels", y, "-o", plain, "--tag", "x" * 256)
        # k = 1: sigmoid before, two-class prior and class histogram
        zb, yb = self.path("zb.npy"), self.path("yb.npy")
        rng = np.random.default_rng(3)
        s = rng.normal(size=700).astype(np.float32) * 2
        lab = (rng.uniform(size=700) < 1 / (1 + np.exp(-s))).astype(np.int64)
        np.save(zb, s)
        np.save(yb, lab)
        mb = self.path("bin.calib")
        self.ok("fit", "--method", "temperature", "--logits", zb, "--labels", yb, "-o", mb, "--tag", "bin")
        pb = self.path("pb.npy")
        self.ok("apply", "--model", mb, "--logits", zb, "-o", pb)
        self.check_provenance(self.ok_json("info", mb), self.ok("info", mb), np.load(pb), s, lab, tag="bin")

    # -- fit -> info -> apply -> eval, multiclass
    def test_end_to_end_multiclass(self):
        model = self.path("m.calib")
        fit = self.fit_json(self.path("z.npy"), self.path("y.npy"), model)
        self.assertEqual(list(fit), ["method", "n", "k", "temperature", "nll_before", "nll_after", "iterations"])
        self.assertEqual((fit["method"], fit["n"], fit["k"]), ("temperature", self.n, self.k))
        T = temperature_ref(self.z, self.y)
        self.assertAlmostEqual(fit["temperature"] / T, 1.0, delta=1e-7)
        self.assertTrue(2.0 < T < 3.0, T)
        self.assertAlmostEqual(fit["nll_before"], nll_logits(self.z, self.y), delta=1e-10)
        self.assertAlmostEqual(fit["nll_after"], nll_logits(self.z.astype(np.float64) / T, self.y), delta=1e-9)
        self.assertIsInstance(fit["iterations"], int)
        self.assertGreaterEqual(fit["iterations"], 1)
        self.assertLess(fit["nll_after"], fit["nll_before"])

        info = self.ok_json("info", model)
        self.assertEqual(list(info)[:5], ["method", "k", "format_version", "size_bytes", "temperature"])
        self.assertEqual({key: info[key] for key in list(info)[:5]},
                         {"method": "temperature", "k": self.k, "format_version": 2,
                          "size_bytes": os.path.getsize(model), "temperature": fit["temperature"]})
        human = self.ok("info", model)
        self.assertIn("temperature", human)
        self.assertIn("%.17g" % fit["temperature"], human)

        probs = self.path("p.npy")
        self.ok("apply", "--model", model, "--logits", self.path("z.npy"), "-o", probs)
        p = np.load(probs)
        self.assertEqual((p.dtype, p.shape), (np.float32, (self.n, self.k)))
        np.testing.assert_allclose(p, softmax(self.z.astype(np.float64) / fit["temperature"]), rtol=0, atol=2e-6)
        with open(probs, "rb") as f:
            written = f.read()
        np.save(self.path("p_np.npy"), p)
        with open(self.path("p_np.npy"), "rb") as f:
            self.assertEqual(written, f.read(), "apply output differs from np.save's bytes")

        self.check_provenance(info, human, p, self.z, self.y, tag="")

        for bins in (15, 10):
            ev = self.ok_json("eval", "--logits", self.path("z.npy"), "--labels", self.path("y.npy"),
                              "--model", model, "--bins", bins)
            self.assertEqual(list(ev), ["n", "k", "accuracy", "nll", "brier", "ece", "mce", "bins"])
            self.assertEqual((ev["n"], ev["k"], ev["bins"]), (self.n, self.k, bins))
            ref = metrics_ref(p, self.y, bins)  # on the very float32 probabilities apply wrote
            for key in ("accuracy", "nll", "brier", "ece", "mce"):
                self.assertAlmostEqual(ev[key], ref[key], delta=1e-9, msg=key)
            self.assertAlmostEqual(ev["nll"], fit["nll_after"], delta=1e-6)
        # eval of the raw logits: softmax with beta 1, exact NLL from logits
        ev = self.ok_json("eval", "--logits", self.path("z.npy"), "--labels", self.path("y.npy"))
        ref = metrics_ref(softmax(self.z), self.y, 15)
        self.assertAlmostEqual(ev["nll"], nll_logits(self.z, self.y), delta=1e-10)
        self.assertAlmostEqual(ev["nll"], fit["nll_before"], delta=1e-12)
        for key in ("accuracy", "brier", "ece", "mce"):
            self.assertAlmostEqual(ev[key], ref[key], delta=1e-6, msg=key)
        self.assertGreater(ev["ece"], 0.05)  # overconfident raw logits, calibrated ones are not
        human = self.ok("eval", "--logits", self.path("z.npy"), "--labels", self.path("y.npy"))
        self.assertIn("ece", human)
        self.no_temp_files()

    # -- binary (k = 1)
    def test_end_to_end_binary(self):
        model = self.path("mb.calib")
        fit = self.fit_json(self.path("zb.npy"), self.path("yb.npy"), model)
        self.assertEqual((fit["n"], fit["k"]), (self.n, 1))
        T = temperature_ref(self.zb, self.yb)
        self.assertAlmostEqual(fit["temperature"] / T, 1.0, delta=1e-7)
        probs = self.path("pb.npy")
        self.ok("apply", "--model", model, "--logits", self.path("zb.npy"), "-o", probs)
        p = np.load(probs)
        self.assertEqual((p.dtype, p.shape), (np.float32, (self.n,)))
        np.testing.assert_allclose(p, sigmoid(self.zb / fit["temperature"]), rtol=0, atol=2e-6)
        ev = self.ok_json("eval", "--logits", self.path("zb.npy"), "--labels", self.path("yb.npy"), "--model", model)
        ref = metrics_ref(p, self.yb, 15)
        for key in ("accuracy", "nll", "brier", "ece", "mce"):
            self.assertAlmostEqual(ev[key], ref[key], delta=1e-9, msg=key)
        # (n, 1) logits are binary too
        np.save(self.path("zb_col.npy"), self.zb[:, None])
        fit2 = self.fit_json(self.path("zb_col.npy"), self.path("yb.npy"), self.path("mb2.calib"))
        self.assertEqual((fit2["k"], fit2["temperature"]), (1, fit["temperature"]))

    # -- dtypes, raw files, weights, options
    def test_input_variants(self):
        base = self.fit_json(self.path("z.npy"), self.path("y.npy"), self.path("a.calib"))
        np.save(self.path("z64.npy"), self.z.astype(np.float64))
        np.save(self.path("y32.npy"), self.y.astype(np.int32))
        np.save(self.path("ycol.npy"), self.y[:, None])
        for logits, labels in (("z64.npy", "y32.npy"), ("z.npy", "ycol.npy")):
            fit = self.fit_json(self.path(logits), self.path(labels), self.path("b.calib"))
            self.assertEqual(fit["temperature"], base["temperature"])
        # raw little-endian files: logits.f32 needs --k; labels.i32
        self.z.astype("<f4").tofile(self.path("logits.f32"))
        self.y.astype("<i4").tofile(self.path("labels.i32"))
        fit = self.fit_json(self.path("logits.f32"), self.path("labels.i32"), self.path("c.calib"), "--k", self.k)
        self.assertEqual((fit["n"], fit["temperature"]), (self.n, base["temperature"]))
        self.fails(2, self.path("logits.f32"), "--k", "fit", "--method", "temperature", "--logits",
                   self.path("logits.f32"), "--labels", self.path("labels.i32"), "-o", self.path("d.calib"))
        self.fails(1, self.path("logits.f32"), "not a multiple of 4*k = 28", "fit", "--method", "temperature",
                   "--logits", self.path("logits.f32"), "--labels", self.path("labels.i32"), "-o",
                   self.path("d.calib"), "--k", 7)
        self.fails(1, self.path("z.npy"), "--k 3 but the array has 4 columns", "fit", "--method", "temperature",
                   "--logits", self.path("z.npy"), "--labels", self.path("y.npy"), "-o", self.path("d.calib"),
                   "--k", 3)
        self.assertFalse(os.path.exists(self.path("d.calib")))
        # apply/eval with a model take k from it for a raw file
        self.ok("apply", "--model", self.path("c.calib"), "--logits", self.path("logits.f32"), "-o",
                self.path("praw.npy"))
        self.ok("apply", "--model", self.path("c.calib"), "--logits", self.path("z.npy"), "-o", self.path("pnpy.npy"))
        self.assertTrue(np.array_equal(np.load(self.path("praw.npy")), np.load(self.path("pnpy.npy"))))
        ev = self.ok_json("eval", "--logits", self.path("logits.f32"), "--labels", self.path("labels.i32"),
                          "--model", self.path("c.calib"))
        self.assertEqual(ev["n"], self.n)
        # weights: all ones = unweighted; integer weights = repeated rows
        np.save(self.path("w1.npy"), np.ones(self.n))
        fit = self.fit_json(self.path("z.npy"), self.path("y.npy"), self.path("e.calib"), "--weights",
                            self.path("w1.npy"))
        self.assertAlmostEqual(fit["temperature"] / base["temperature"], 1.0, delta=1e-12)
        rng = np.random.default_rng(7)
        counts = rng.integers(0, 4, size=self.n)
        np.save(self.path("wc.npy"), counts.astype(np.float32))
        fit = self.fit_json(self.path("z.npy"), self.path("y.npy"), self.path("e.calib"), "--weights",
                            self.path("wc.npy"))
        rep = np.repeat(np.arange(self.n), counts)
        self.assertAlmostEqual(fit["temperature"] / temperature_ref(self.z[rep], self.y[rep]), 1.0, delta=1e-7)
        self.assertAlmostEqual(fit["temperature"] / temperature_ref(self.z, self.y, counts), 1.0, delta=1e-7)
        np.save(self.path("wshort.npy"), np.ones(self.n - 1))
        self.fails(1, self.path("wshort.npy"), "%d weights but %s has %d rows" % (self.n - 1, self.path("z.npy"),
                   self.n), "fit", "--method", "temperature", "--logits", self.path("z.npy"), "--labels",
                   self.path("y.npy"), "-o", self.path("f.calib"), "--weights", self.path("wshort.npy"))
        # fitter options reach the solver
        fit = self.fit_json(self.path("z.npy"), self.path("y.npy"), self.path("g.calib"), "--tol", "1e-3",
                            "--max-iter", "50")
        self.assertLessEqual(fit["iterations"], base["iterations"])
        self.fails(1, self.path("z.npy"), "fit failed", "fit", "--method", "temperature", "--logits",
                   self.path("z.npy"), "--labels", self.path("y.npy"), "-o", self.path("h.calib"), "--max-iter", 1,
                   "--tol", "1e-15")
        self.assertFalse(os.path.exists(self.path("h.calib")))
        for opt, val in (("--max-iter", "0"), ("--max-iter", "2.5"), ("--tol", "1"), ("--tol", "abc")):
            self.fails(2, "fit", opt, "fit", "--method", "temperature", "--logits", self.path("z.npy"), "--labels",
                       self.path("y.npy"), "-o", self.path("h.calib"), opt, val)
        self.fails(2, "fit", "unknown method 'nosuch'", "fit", "--method", "nosuch", "--logits", self.path("z.npy"),
                   "--labels", self.path("y.npy"), "-o", self.path("h.calib"))
        self.fails(2, "fit", "missing --labels", "fit", "--method", "temperature", "--logits", self.path("z.npy"),
                   "-o", self.path("h.calib"))
        self.fails(2, "eval", "--bins", "eval", "--logits", self.path("z.npy"), "--labels", self.path("y.npy"),
                   "--bins", "0")
        self.assertFalse(os.path.exists(self.path("h.calib")))
        self.no_temp_files()

    # -- error cases: one line naming the file, status, no partial / touched output
    def test_errors(self):
        z, y = self.path("z.npy"), self.path("y.npy")
        model = self.path("err.calib")
        self.ok("fit", "--method", "temperature", "--logits", z, "--labels", y, "-o", model)
        with open(model, "rb") as f:
            model_bytes = f.read()

        def fit_fails(status, where, msg, logits, labels, out):
            self.fails(status, where, msg, "fit", "--method", "temperature", "--logits", logits, "--labels", labels,
                       "-o", out)

        def apply_fails(status, where, msg, logits, out, model_path=model):
            self.fails(status, where, msg, "apply", "--model", model_path, "--logits", logits, "-o", out)

        missing = self.path("missing.npy")
        bad = self.path("bad.npy")
        with open(bad, "wb") as f:
            f.write(b"this is not numpy data at all" * 4)
        short = self.path("y_short.npy")
        np.save(short, self.y[:-1])
        oor = self.path("y_oor.npy")
        yo = self.y.copy()
        yo[17] = self.k
        np.save(oor, yo)
        neg = self.path("y_neg.npy")
        yn = self.y.copy()
        yn[3] = -1
        np.save(neg, yn)
        bige = self.path("z_be.npy")
        np.save(bige, self.z.astype(">f4"))
        fort = self.path("z_f.npy")
        np.save(fort, np.asfortranarray(self.z))
        zi = self.path("z_int.npy")
        np.save(zi, self.z.astype(np.int64))
        z3 = self.path("z3.npy")
        np.save(z3, self.z[:, :3])
        znan = self.path("z_nan.npy")
        zz = self.z.copy()
        zz[5, 1] = np.nan
        np.save(znan, zz)
        trunc = self.path("z_trunc.npy")
        with open(z, "rb") as f:
            data = f.read()
        with open(trunc, "wb") as f:
            f.write(data[:-3])

        cases = [  # (status, file named, message, logits, labels)
            (1, missing, "cannot open", missing, y),
            (1, missing, "cannot open", z, missing),
            (1, bad, "not a .npy file (bad magic)", bad, y),
            (1, short, "%d labels but %s has %d rows" % (self.n - 1, z, self.n), z, short),
            (1, oor, "label %d at row 17 is outside 0..%d" % (self.k, self.k - 1), z, oor),
            (1, neg, "label -1 at row 3", z, neg),
            (1, bige, "big-endian", bige, y),
            (1, fort, "Fortran", fort, y),
            (1, zi, "dtype is int64", zi, y),
            (1, trunc, "truncated data", trunc, y),
            (1, znan, "fit failed", znan, y),
        ]
        for out in (self.path("new.calib"), model):  # absent, and existing
            for status, where, msg, logits, labels in cases:
                fit_fails(status, where, msg, logits, labels, out)
                if out == model:
                    with open(model, "rb") as f:
                        self.assertEqual(f.read(), model_bytes, "existing model touched by a failed fit")
                else:
                    self.assertFalse(os.path.exists(out), "model written by a failed fit")

        probs = self.path("probs_err.npy")
        sentinel = b"pre-existing output"
        for existing in (False, True):
            if existing:
                with open(probs, "wb") as f:
                    f.write(sentinel)
            apply_fails(1, missing, "cannot open", missing, probs)
            apply_fails(1, bad, "bad magic", bad, probs)
            apply_fails(1, z3, "logits have 3 columns but %s was fitted on k = %d" % (model, self.k), z3, probs)
            apply_fails(1, znan, "apply failed", znan, probs)
            apply_fails(1, bad, "model header: magic is not \"CALIBMDL\"", z, probs, model_path=bad)
            apply_fails(1, missing, "cannot open", z, probs, model_path=missing)
            apply_fails(1, self.path("nodir/x.npy"), "cannot", z, self.path("nodir/x.npy"))
            if existing:
                with open(probs, "rb") as f:
                    self.assertEqual(f.read(), sentinel, "existing output touched by a failed apply")
            else:
                self.assertFalse(os.path.exists(probs), "output written by a failed apply")

        self.fails(1, short, "labels but", "eval", "--logits", z, "--labels", short)
        self.fails(1, oor, "outside", "eval", "--logits", z, "--labels", oor)
        self.fails(1, z3, "fitted on k = %d" % self.k, "eval", "--logits", z3, "--labels", y, "--model", model)
        self.fails(1, bad, "invalid model bytes", "info", bad)
        corrupt = self.path("corrupt.calib")
        with open(corrupt, "wb") as f:
            f.write(model_bytes[:-1] + bytes([model_bytes[-1] ^ 1]))
        line = self.fails(1, corrupt, "model payload: payload CRC-32 does not match", "info", corrupt)
        self.assertEqual(line.count("invalid model bytes"), 1, line)  # the reason once, not twice
        self.fails(1, missing, "cannot open", "info", missing)
        self.fails(2, "info", "missing MODEL", "info")
        self.fails(1, y, "is not 0 or 1", "eval", "--logits", self.path("zb.npy"), "--labels", y)
        self.no_temp_files()

    # -- messages: which check failed, the errno text, the file at fault
    def test_messages(self):
        z, y = self.path("z.npy"), self.path("y.npy")
        good = self.path("msg.calib")
        self.ok("fit", "--method", "temperature", "--logits", z, "--labels", y, "-o", good)
        with open(good, "rb") as f:
            mb = bytearray(f.read())

        def info_fails(name, data, msg):
            p = self.path(name)
            with open(p, "wb") as f:
                f.write(bytes(data))
            line = self.fails(1, p, msg, "info", p)
            self.assertEqual(line.count("invalid model bytes"), 1, line)

        def fix_header_crc(b):
            b[28:32] = struct.pack("<I", zlib.crc32(bytes(b[:28])))
            return b

        b = bytearray(mb)
        b[40] ^= 0x10  # the section count: the payload CRC catches it first
        info_fails("m_pcrc.calib", b, "model payload: payload CRC-32 does not match (corrupted payload) (at 24)")
        b = bytearray(mb)
        b[13] ^= 1  # the method id: the header CRC catches it
        info_fails("m_hcrc.calib", b, "model header: header CRC-32 does not match (corrupted header) (at 28)")
        b = bytearray(mb)
        b[8:12] = struct.pack("<I", 3)  # this library reads versions 1 and 2
        info_fails("m_ver.calib", fix_header_crc(b), "format version is newer than this library reads (future version) (at 8)")
        b = bytearray(mb)
        b[12:16] = struct.pack("<I", 4242)
        info_fails("m_meth.calib", fix_header_crc(b), "model header: unknown method id (at 12)")
        info_fails("m_trail.calib", mb + b"\0" * 8, "trailing bytes after the payload length given in the header (at %d)" % len(mb))
        info_fails("m_trunc.calib", mb[:-8], "model payload: truncated")
        info_fails("m_short.calib", mb[:20], "model header: truncated: shorter than the 32-byte header")
        info_fails("m_nan.calib", model_bytes(1, 4, [(1, [np.nan])]), "model parameters: a parameter value is NaN (at 64)")
        info_fails("m_neg.calib", model_bytes(1, 4, [(1, [-1.0])]),
                   "temperature: parameters rejected by the method's validation")
        info_fails("m_dup.calib", model_bytes(1, 4, [(1, [1.0]), (1, [2.0])]),
                   "model section table: section tag appears twice (at 64)")
        info_fails("m_k0.calib", model_bytes(1, 0, [(1, [1.0])]), "model payload: k (number of classes) is 0 (at 32)")
        # file errors end with the errno text
        self.fails(1, self.path("nodir/m.calib"), "No such file or directory",
                   "fit", "--method", "temperature", "--logits", z, "--labels", y, "-o", self.path("nodir/m.calib"))
        self.fails(1, self.path("absent.calib"), "cannot open for reading: file input/output error: No such file",
                   "info", self.path("absent.calib"))
        self.fails(1, self.d, "Is a directory", "info", self.d)
        # the one-class error names the labels file, not the logits
        one = self.path("y_one.npy")
        np.save(one, np.zeros(self.n, dtype=np.int64))
        self.fails(1, one, "all labels belong to one class",
                   "fit", "--method", "temperature", "--logits", z, "--labels", one, "-o", self.path("one.calib"))
        self.fails(2, "eval", "--max-bytes '0'", "eval", "--logits", z, "--labels", y, "--max-bytes", "0")
        self.fails(1, z, "over the input limit of 1000 bytes (--max-bytes)",
                   "eval", "--logits", z, "--labels", y, "--max-bytes", "1000")
        self.no_temp_files()

    # -- saved files get the mode creat(path, 0666) would give; an existing file keeps its mode
    def test_file_modes(self):
        z, y = self.path("z.npy"), self.path("y.npy")
        out = self.path("mode.calib")
        old = os.umask(0o027)
        try:
            self.ok("fit", "--method", "temperature", "--logits", z, "--labels", y, "-o", out)
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o640)
        os.chmod(out, 0o600)
        self.ok("fit", "--method", "temperature", "--logits", z, "--labels", y, "-o", out)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        self.no_temp_files()

    # -- a k = 1100 matrix / Dirichlet model applies from the CLI (in place is refused above k = 1024)
    def test_wide_matrix_apply(self):
        rng = np.random.default_rng(7)
        n, k = 40, 1100
        z = (rng.normal(size=(n, k)) * 2).astype(np.float32)
        y = rng.integers(0, k, n).astype(np.int64)
        zp, yp = self.path("z1100.npy"), self.path("y1100.npy")
        np.save(zp, z)
        np.save(yp, y)
        W = np.eye(k) * 0.7 + rng.normal(size=(k, k)) * 1e-3
        b = rng.normal(size=k) * 0.1
        for method, name, feats in ((7, "matrix", z.astype(np.float64)),
                                    (8, "dirichlet", None)):
            if feats is None:  # Dirichlet: W ln p + b, ln p = z - logsumexp(z)
                zz = z.astype(np.float64)
                m = zz.max(axis=1, keepdims=True)
                feats = zz - (m + np.log(np.exp(zz - m).sum(axis=1, keepdims=True)))
            mp = self.path("wide_%s.calib" % name)
            with open(mp, "wb") as f:
                f.write(model_bytes(method, k, [(16, W), (17, b)]))
            info = self.ok_json("info", mp)
            self.assertEqual((info["method"], info["k"]), (name, k))
            probs = self.path("p_%s.npy" % name)
            self.ok("apply", "--model", mp, "--logits", zp, "-o", probs)
            p = np.load(probs)
            want = softmax(feats @ W.T + b)
            self.assertEqual(p.shape, (n, k))
            self.assertLess(float(np.abs(p - want).max()), 1e-6)
            ev = self.ok_json("eval", "--logits", zp, "--labels", yp, "--model", mp)
            ref = metrics_ref(p, y, 15)
            self.assertAlmostEqual(ev["accuracy"], ref["accuracy"], delta=1e-12)
            self.assertAlmostEqual(ev["nll"], ref["nll"], delta=1e-6)
            self.assertAlmostEqual(ev["ece"], ref["ece"], delta=1e-6)

    # -- real data: cifar10 DenseNet-40 (raw files) vs REFERENCE.json
    def test_shared_data(self):
        ds = os.path.join(SHARED, DENSENET)
        if not os.path.isdir(ds):
            raise datagate.missing("the DenseNet-40 REFERENCE.json fit")
        with open(os.path.join(SHARED, "REFERENCE.json")) as f:
            ref = next(r for r in json.load(f)["results"] if r["name"] == DENSENET)
        model = self.path("densenet.calib")
        fit = self.fit_json(os.path.join(ds, "val", "logits.f32"), os.path.join(ds, "val", "labels.i32"), model,
                            "--k", 10)
        self.assertEqual((fit["n"], fit["k"]), (ref["n_val"], 10))
        self.assertAlmostEqual(fit["temperature"] / ref["temperature"], 1.0, delta=1e-6)
        self.assertAlmostEqual(fit["nll_before"], ref["val"]["before"]["nll"], delta=1e-9)
        self.assertAlmostEqual(fit["nll_after"], ref["val"]["after_ts"]["nll"], delta=1e-7)
        test = [os.path.join(ds, "test", "logits.f32"), os.path.join(ds, "test", "labels.i32")]
        before = self.ok_json("eval", "--logits", test[0], "--labels", test[1], "--k", 10)
        after = self.ok_json("eval", "--logits", test[0], "--labels", test[1], "--model", model)
        for got, want in ((before, ref["test"]["before"]), (after, ref["test"]["after_ts"])):
            self.assertEqual(got["n"], ref["n_test"])
            self.assertAlmostEqual(got["accuracy"], want["accuracy"], delta=1e-12)
            self.assertAlmostEqual(got["nll"], want["nll"], delta=1e-6)
            self.assertAlmostEqual(got["brier"], want["brier"], delta=1e-6)
            self.assertAlmostEqual(got["ece"], want["ece15"], delta=1e-6)
            self.assertAlmostEqual(got["mce"], want["mce15"], delta=1e-5)
        print("\n  densenet40 val: T = %.10f (reference %.10f); test ECE15 %.6f -> %.6f"
              % (fit["temperature"], ref["temperature"], before["ece"], after["ece"]))


if __name__ == "__main__":
    if not os.access(CLI, os.X_OK):
        print("FAIL: %s not found: run `make all` first" % CLI)
        sys.exit(1)
    res = unittest.main(exit=False, verbosity=1).result
    sys.exit(datagate.finish(res))
