"""test_cli_typed.py -- `calib fit/apply/eval` on float16 / int8 / uint8 .npy
logits with --scale / --zero-point, and `apply --out-dtype f16`.

Reference: numpy's own dequantization (q.astype(np.int32) - zp).astype(
np.float32) * np.float32(scale) (per class: .npy arrays of k), saved as a
float32 .npy and run through the same commands: the typed run must give the
same model bytes (fit, --no-provenance), the same probabilities bit for bit
(apply; temperature within 2e-6, its typed softmax is another kernel) and
the same metrics (eval); --out-dtype f16 equals numpy's float16 rounding of
the float32 result. Errors: one "calib: <file>: ..." line, exit 1 (data) or
2 (usage), no output file.
Run: PYTHONPATH=python /usr/bin/python3 test/py/test_cli_typed.py
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("CALIB_CLI", os.path.join(ROOT, "bin", "calib"))
DATA = os.path.join(ROOT, "data", "cifar10_densenet40_markus93")


def run(*args):
    return subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True)


def dequant(q, scale, zp):
    return (q.astype(np.int32) - np.asarray(zp, np.int32)).astype(np.float32) * np.asarray(scale, np.float32)


class CliTyped(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        rng = np.random.default_rng(4)
        self.z = np.load(os.path.join(DATA, "val", "logits.npy")).astype(np.float32)[:2000]
        self.y = np.load(os.path.join(DATA, "val", "labels.npy")).astype(np.int64)[:2000]
        self.k = self.z.shape[1]
        self.scale = float(np.float32(np.abs(self.z).max() / 127))
        q = np.clip(np.round(self.z / self.scale), -128, 127).astype(np.int8)
        u = np.clip(np.round(self.z / self.scale) + 120, 0, 255).astype(np.uint8)
        cs = (self.scale * (0.8 + 0.05 * np.arange(self.k))).astype(np.float32)
        cz = (np.arange(self.k) % 5 - 2).astype(np.int64)
        qc = np.clip(np.round(self.z / cs) + cz, -128, 127).astype(np.int8)
        h = self.z.astype(np.float16)
        self.p = lambda n: os.path.join(self.d, n)
        np.save(self.p("y.npy"), self.y)
        np.save(self.p("cs.npy"), cs)
        np.save(self.p("cz.npy"), cz)
        # (name, file, extra args, dequantized float32 reference file)
        self.cases = []
        for name, arr, args, deq in (
                ("int8", q, ["--scale", repr(self.scale)], dequant(q, self.scale, 0)),
                ("uint8", u, ["--scale", repr(self.scale), "--zero-point", "120"], dequant(u, self.scale, 120)),
                ("int8 per class", qc, ["--scale", self.p("cs.npy"), "--zero-point", self.p("cz.npy")],
                 dequant(qc, cs, cz.astype(np.int32))),
                ("float16", h, [], h.astype(np.float32))):
            f, r = self.p(name.replace(" ", "_") + ".npy"), self.p(name.replace(" ", "_") + "_ref.npy")
            np.save(f, arr)
            np.save(r, deq)
            self.cases.append((name, f, args, r))
        del rng

    def tearDown(self):
        self.tmp.cleanup()

    def test_fit_apply_eval(self):
        for method in ("temperature", "platt", "vector", "isotonic"):
            for name, f, args, ref in self.cases:
                with self.subTest(method=method, type=name):
                    mt, mr = self.p("t.calib"), self.p("r.calib")
                    a = run("fit", "--method", method, "--logits", f, "--labels", self.p("y.npy"), "-o", mt,
                            "--no-provenance", "--json", *args)
                    if a.returncode == 2 and "not built" in a.stderr:
                        continue
                    self.assertEqual(a.returncode, 0, a.stderr)
                    b = run("fit", "--method", method, "--logits", ref, "--labels", self.p("y.npy"), "-o", mr,
                            "--no-provenance", "--json")
                    self.assertEqual(b.returncode, 0, b.stderr)
                    with open(mt, "rb") as fa, open(mr, "rb") as fb:
                        self.assertEqual(fa.read(), fb.read())  # the same model, byte for byte
                    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
                    self.assertEqual(ja, jb)
                    pt, pr, ph = self.p("pt.npy"), self.p("pr.npy"), self.p("ph.npy")
                    self.assertEqual(run("apply", "--model", mr, "--logits", f, "-o", pt, *args).returncode, 0)
                    self.assertEqual(run("apply", "--model", mr, "--logits", ref, "-o", pr).returncode, 0)
                    t, r = np.load(pt), np.load(pr)
                    self.assertEqual(t.dtype, np.float32)
                    if method == "temperature":
                        np.testing.assert_allclose(t, r, rtol=0, atol=2e-6)
                    else:
                        self.assertTrue(np.array_equal(t.view(np.uint32), r.view(np.uint32)))
                    c = run("apply", "--model", mr, "--logits", f, "-o", ph, "--out-dtype", "f16", *args)
                    self.assertEqual(c.returncode, 0, c.stderr)
                    h = np.load(ph)
                    self.assertEqual(h.dtype, np.float16)
                    want = r.astype(np.float16)
                    diff = np.abs(h.view(np.int16).astype(int) - want.view(np.int16).astype(int)).max()
                    self.assertLessEqual(diff, 1 if method == "temperature" else 0)
                    ea = run("eval", "--logits", f, "--labels", self.p("y.npy"), "--model", mr, "--json", *args)
                    eb = run("eval", "--logits", ref, "--labels", self.p("y.npy"), "--model", mr, "--json")
                    self.assertEqual(ea.returncode, 0, ea.stderr)
                    va, vb = json.loads(ea.stdout), json.loads(eb.stdout)
                    for key in vb:
                        self.assertAlmostEqual(va[key], vb[key], delta=0 if method != "temperature" else 1e-5)
                    ra = run("eval", "--logits", f, "--labels", self.p("y.npy"), "--json", *args)
                    rb = run("eval", "--logits", ref, "--labels", self.p("y.npy"), "--json")
                    self.assertEqual(json.loads(ra.stdout), json.loads(rb.stdout))  # raw: same float32 values

    def test_float16_output_of_float32_logits(self):
        m, out = self.p("m.calib"), self.p("p16.npy")
        self.assertEqual(run("fit", "--method", "temperature", "--logits", self.cases[3][3], "--labels",
                             self.p("y.npy"), "-o", m).returncode, 0)
        ref = self.p("p32.npy")
        self.assertEqual(run("apply", "--model", m, "--logits", self.cases[3][3], "-o", ref).returncode, 0)
        r = run("apply", "--model", m, "--logits", self.cases[3][3], "-o", out, "--out-dtype", "f16")
        self.assertEqual(r.returncode, 0, r.stderr)
        d = np.abs(np.load(out).view(np.int16).astype(int) - np.load(ref).astype(np.float16).view(np.int16).astype(int))
        self.assertLessEqual(d.max(), 1)

    def test_errors(self):
        q = self.cases[0][1]
        h = self.cases[3][1]
        m, out = self.p("m.calib"), self.p("out.npy")
        self.assertEqual(run("fit", "--method", "platt", "--logits", self.cases[0][3], "--labels", self.p("y.npy"),
                             "-o", m).returncode, 0)
        bad = [
            (["fit", "--method", "temperature", "--logits", q, "--labels", self.p("y.npy"), "-o", out], 1, "--scale"),
            (["apply", "--model", m, "--logits", q, "-o", out], 1, "need --scale"),
            (["apply", "--model", m, "--logits", h, "-o", out, "--scale", "0.1"], 1, "not float16"),
            (["apply", "--model", m, "--logits", self.cases[0][3], "-o", out, "--scale", "0.1"], 1, "float logits"),
            (["apply", "--model", m, "--logits", q, "-o", out, "--scale", "-2"], 1, "positive"),
            (["apply", "--model", m, "--logits", q, "-o", out, "--scale", "0.1", "--zero-point", "300"], 1,
             "zero_point"),
            (["apply", "--model", m, "--logits", q, "-o", out, "--scale", self.p("y.npy")], 1, "per-class scales"),
            (["apply", "--model", m, "--logits", q, "-o", out, "--scale", self.p("nothere.npy")], 1, "--scale"),
            (["apply", "--model", m, "--logits", q, "-o", out, "--scale", "0.1", "--out-dtype", "f64"], 2, "f16"),
            (["eval", "--logits", q, "--labels", self.p("y.npy")], 1, "--scale"),
        ]
        for args, code, text in bad:
            with self.subTest(args=args[:2] + args[-3:]):
                r = run(*args)
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith("calib: "), r.stderr)
                self.assertIn(text, r.stderr)
                self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=1).result.wasSuccessful() else 1)
