"""The Python binding (python/calib): loading, arrays, errors, metrics and
estimators against independent references (numpy / scipy / scikit-learn),
on the shipped set (data/cifar10_densenet40_markus93) and on ../shared/data.

Run from the repository root:  PYTHONPATH=python /usr/bin/python3 test/py/test_binding.py
Parts that need ../shared/data skip with a message when it is absent
(CALIB_SHARED_DATA overrides the path).
"""
import copy
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
from scipy import optimize, special

import calib
from calib import _arrays, _ids, _lib, _verify

import datagate  # noqa: E402  (honest skips: test/py/datagate.py)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("CALIB_SHARED_DATA") or os.path.join(REPO, os.pardir, "shared", "data")
SHIPPED = "cifar10_densenet40_markus93"


# ---- data ------------------------------------------------------------------------
def shipped(split):
    """(logits float32 (n, 10), labels) of the shipped set; falls back to ../shared."""
    for root in (os.path.join(REPO, "data"), SHARED):
        d = os.path.join(root, SHIPPED, split)
        if os.path.exists(os.path.join(d, "logits.npy")):
            return np.load(os.path.join(d, "logits.npy")), np.load(os.path.join(d, "labels.npy"))
    raise AssertionError("the shipped set %s is missing from data/ (a broken checkout)" % SHIPPED)


def shared_sets(kinds=("logits", "log_probs")):
    """[(name, k, (val_x, val_y), (test_x, test_y))] of ../shared/data, or SkipTest."""
    index = os.path.join(SHARED, "index.json")
    if not os.path.exists(index):
        raise datagate.missing("the shared-data reference checks (index.json)")
    out = []
    with open(index) as f:
        names = json.load(f)
    for name in names:
        with open(os.path.join(SHARED, name, "meta.json")) as f:
            meta = json.load(f)
        if meta["kind"] not in kinds:
            continue
        k = meta["k"]
        splits = []
        for split in ("val", "test"):
            d = os.path.join(SHARED, name, split)
            x = np.fromfile(os.path.join(d, "logits.f32"), dtype="<f4")
            y = np.fromfile(os.path.join(d, "labels.i32"), dtype="<i4")
            splits.append((x if k == 1 else x.reshape(-1, k), y))
        out.append((name, k, splits[0], splits[1]))
    return out


# ---- independent references (float64) ------------------------------------------------
def ref_probs(z, T=1.0):
    z = np.asarray(z, np.float64)
    return special.expit(z / T) if z.ndim == 1 else special.softmax(z / T, axis=1)


def ref_nll_logits(z, y, T=1.0):
    z = np.asarray(z, np.float64) / T
    if z.ndim == 1:
        return float(np.mean(np.logaddexp(0, z) - y * z))
    return float(np.mean(special.logsumexp(z, axis=1) - z[np.arange(len(y)), y]))


def ref_temperature(z, y, w=None):
    """T minimising the weighted mean NLL: scipy bounded search on log T."""
    z = np.asarray(z, np.float64)
    w = np.ones(len(y)) if w is None else np.asarray(w, np.float64)

    def f(u):
        t = z / np.exp(u)
        if t.ndim == 1:
            per = np.logaddexp(0, t) - y * t
        else:
            per = special.logsumexp(t, axis=1) - t[np.arange(len(y)), y]
        return float(np.sum(w * per) / np.sum(w))
    r = optimize.minimize_scalar(f, bounds=(np.log(0.02), np.log(50.0)), method="bounded",
                                 options={"xatol": 1e-12})
    return float(np.exp(r.x))


def ref_top(p):
    p = np.asarray(p, np.float64)
    if p.ndim == 1:
        pred = (p > 0.5).astype(np.int64)
        return pred, np.maximum(p, 1.0 - p)
    pred = np.argmax(p, axis=1)
    return pred, p[np.arange(len(p)), pred]


def ref_binned(p, y, bins):
    """(ECE, MCE) with right-closed equal-width bins, exact edges b/M, 0 in bin 0."""
    pred, conf = ref_top(p)
    hit = (pred == y).astype(np.float64)
    edges = np.arange(bins + 1) / bins
    b = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    ece, mce = 0.0, 0.0
    for i in range(bins):
        m = b == i
        if m.any():
            gap = abs(hit[m].mean() - conf[m].mean())
            ece += m.sum() / len(y) * gap
            mce = max(mce, gap)
    return ece, mce


def ref_brier(p, y):
    p = np.asarray(p, np.float64)
    if p.ndim == 1:
        return float(np.mean((p - y) ** 2))
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def ref_nll(p, y):
    p = np.asarray(p, np.float64)
    if p.ndim == 1:
        return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def close(a, b, rel=1e-6, abs_=0.0):
    return abs(a - b) <= max(rel * abs(b), abs_)


# ---- loading, version, ids ------------------------------------------------------------
def import_in_subprocess(env_extra, pkg_parent, unset=("CALIB_LIBRARY",)):
    env = dict(os.environ)
    for v in unset:
        env.pop(v, None)
    env.update(env_extra)
    env["PYTHONPATH"] = pkg_parent
    code = "import calib, sys; sys.stdout.write(calib.library_path)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd="/")


class TestLoading(unittest.TestCase):
    def test_loaded_library(self):
        self.assertTrue(os.path.exists(calib.library_path), calib.library_path)
        self.assertIn(calib.library_path, calib.candidate_paths())
        self.assertEqual(calib.library_version.rsplit(".", 1)[0], calib.__version__.rsplit(".", 1)[0])
        self.assertIn(calib.isa(), ("scalar", "avx2", "avx512", "neon"))

    def test_version_rule(self):
        ok = _lib._version_ok
        self.assertTrue(ok(100) and ok(101) and ok(199))         # 0.1.x: any patch
        self.assertFalse(ok(200) or ok(0) or ok(10100))          # other 0.x minor, other major

    def test_ids_agree_with_library(self):
        self.assertEqual(_verify.mismatches(calib.ESTIMATORS), [])
        self.assertEqual(_verify.missing_options(calib.ESTIMATORS), [],
                         "the library has options the binding does not expose")
        for name, mid in _ids.METHODS.items():
            self.assertEqual(_lib.FN["calib_method_name"](mid).decode(), name)
        for code, cname in _ids.STATUS_NAMES.items():
            self.assertNotEqual(calib.strerror(code), "unknown error", cname)

    def test_signatures_match_the_header(self):
        """Every function of include/calib.h is bound, with the header's
        parameter count and kinds (pointer, double, float, size_t, int) and
        return kind."""
        import ctypes
        import re
        with open(os.path.join(REPO, "include", "calib.h")) as f:
            h = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
        kinds = {"double": ctypes.c_double, "float": ctypes.c_float, "size_t": ctypes.c_size_t, "int": ctypes.c_int,
                 "unsigned": ctypes.c_uint, "uint64_t": ctypes.c_uint64, "int64_t": ctypes.c_int64}
        seen = 0
        proto = r"^(?:CALIB_NODISCARD\s+)?CALIB_API\s+([^;{#]*?)\b(calib_[a-z0-9_]+)\s*\(([^)]*)\)\s*;"
        for m in re.finditer(proto, h, re.S | re.M):
            ret, name, args = " ".join(m.group(1).split()), m.group(2), m.group(3).strip()
            self.assertIn(name, _lib.SIGNATURES, "%s is not bound in python/calib/_lib.py" % name)
            restype, argtypes = _lib.SIGNATURES[name]
            params = [] if args in ("", "void") else [" ".join(a.split()) for a in args.split(",")]
            self.assertEqual(len(argtypes), len(params), name)
            for a, t in zip(params, argtypes):
                if "*" in a:
                    self.assertTrue(t in (ctypes.c_void_p, ctypes.c_char_p) or t.__name__.startswith("LP_"), (name, a))
                else:
                    self.assertIs(t, kinds[a.replace("const ", "").split()[0]], (name, a))
            if "*" in ret:
                self.assertIn(restype, (ctypes.c_char_p, ctypes.c_void_p), name)
            elif ret.endswith("void"):
                self.assertIsNone(restype, name)
            else:
                self.assertIs(restype, kinds[ret.split()[-1]], name)
            seen += 1
        self.assertEqual(seen, len(re.findall(r"^(?:CALIB_NODISCARD\s+)?CALIB_API\b", h, re.M)))
        self.assertGreater(seen, 30)

    def test_package_version_is_the_headers(self):
        with open(os.path.join(REPO, "include", "calib.h")) as f:
            h = f.read()
        import re
        ver = ".".join(re.search(r"#define CALIB_VERSION_%s (\d+)" % p, h).group(1) for p in ("MAJOR", "MINOR", "PATCH"))
        self.assertEqual(calib.__version__, ver, "bump python/calib/_version.py with include/calib.h")
        from calib._version import VERSION_NUMBER
        a, b, c = map(int, ver.split("."))
        self.assertEqual(VERSION_NUMBER, a * 10000 + b * 100 + c)

    def test_verification_catches_a_wrong_id(self):
        saved = dict(_ids.OPTIONS)
        try:
            _ids.OPTIONS["tol"] = 31                       # an id no method has
            bad = _verify.mismatches(calib.ESTIMATORS)
            self.assertTrue(any("'tol' (id 31)" in b for b in bad), bad)
        finally:
            _ids.OPTIONS.clear()
            _ids.OPTIONS.update(saved)
        saved = dict(_ids.METHODS)
        try:
            _ids.METHODS["platt"], _ids.METHODS["beta"] = 3, 2
            self.assertTrue(any("method id 3" in b for b in _verify.mismatches({})))
        finally:
            _ids.METHODS.clear()
            _ids.METHODS.update(saved)

    def test_missing_symbol_is_unsupported(self):
        saved = _lib.FN["calib_ece"]
        try:
            _lib.FN["calib_ece"] = None
            with self.assertRaises(calib.CalibError) as cm:
                calib.ece(np.full((2, 2), 0.5, np.float32), [0, 1])
            self.assertEqual(cm.exception.code, calib.E_UNSUPPORTED)
            self.assertIn("calib_ece is not in", str(cm.exception))
        finally:
            _lib.FN["calib_ece"] = saved

    def test_calib_library_env(self):
        repo_lib = os.path.realpath(calib.library_path)
        r = import_in_subprocess({"CALIB_LIBRARY": repo_lib}, os.path.join(REPO, "python"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, repo_lib)
        bad = "/nonexistent/dir/libcalib.so"
        r = import_in_subprocess({"CALIB_LIBRARY": bad}, os.path.join(REPO, "python"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("could not load libcalib", r.stderr)
        self.assertIn(bad, r.stderr)
        self.assertIn("CALIB_LIBRARY", r.stderr)

    def test_not_found_lists_paths(self):
        with tempfile.TemporaryDirectory() as tmp:
            pkg = os.path.join(tmp, "site")
            shutil.copytree(os.path.join(REPO, "python", "calib"), os.path.join(pkg, "calib"),
                            ignore=shutil.ignore_patterns("libcalib*", "__pycache__"))
            r = import_in_subprocess({"LD_LIBRARY_PATH": ""}, pkg)
            if r.returncode == 0:
                self.skipTest("a libcalib is installed on the system path (%s)" % r.stdout)
            self.assertIn("could not load libcalib; tried:", r.stderr)
            self.assertIn(os.path.join(pkg, "calib", "libcalib.so.0"), r.stderr)
            self.assertIn(os.path.join(tmp, "lib", "libcalib.so.0"), r.stderr)
            self.assertIn("make", r.stderr)
            # the package copied next to a lib/ folder (the repository layout) finds it there
            os.makedirs(os.path.join(tmp, "lib"))
            shutil.copy(os.path.realpath(calib.library_path), os.path.join(tmp, "lib", "libcalib.so.0"))
            r = import_in_subprocess({"LD_LIBRARY_PATH": ""}, pkg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, os.path.join(tmp, "lib", "libcalib.so.0"))


# ---- arrays in and out ---------------------------------------------------------------
class TestArrays(unittest.TestCase):
    def setUp(self):
        self.x, self.y = shipped("val")
        self.ts = calib.TemperatureScaling().fit(self.x, self.y)

    def test_zero_copy_inputs(self):
        x = np.ascontiguousarray(self.x, np.float32)
        self.assertIs(_arrays.scores(x)[0], x)
        y64 = self.y.astype(np.int64)
        self.assertIs(_arrays.labels(y64, len(y64)), y64)
        w = np.ones(len(y64))
        self.assertIs(_arrays.weights(w, len(w)), w)
        y32 = self.y.astype(np.int32)
        c = _arrays.labels(y32, len(y32))
        self.assertEqual(c.dtype, np.int64)
        np.testing.assert_array_equal(c, y32)
        # the pointer handed to C is the array's own buffer
        self.assertEqual(_arrays.addr(x), x.ctypes.data)
        ro = x.copy()
        ro.flags.writeable = False
        self.assertEqual(_arrays.addr(ro), ro.ctypes.data)
        self.assertIs(_arrays.scores(ro)[0], ro)                                 # read-only is fine too
        raw = np.zeros(x.nbytes + 4, np.uint8)
        mis = np.frombuffer(raw.data, np.float32, x.size, offset=1).reshape(x.shape)   # misaligned: copied
        self.assertFalse(mis.flags.aligned)
        c = _arrays.scores(mis)[0]
        self.assertTrue(c.flags.aligned)
        np.testing.assert_array_equal(c, mis)

    def test_output_dtype_and_layout(self):
        p32 = self.ts.predict_proba(self.x)
        self.assertEqual(p32.dtype, np.float32)
        self.assertEqual(p32.shape, self.x.shape)
        p64in = self.ts.predict_proba(self.x.astype(np.float64))    # converted once; result stays float32
        self.assertEqual(p64in.dtype, np.float32)
        np.testing.assert_array_equal(p64in, p32)
        pf = self.ts.predict_proba(np.asfortranarray(self.x))
        np.testing.assert_array_equal(pf, p32)
        ps = self.ts.predict_proba(np.repeat(self.x, 2, axis=0)[::2])
        np.testing.assert_array_equal(ps, p32)
        self.assertEqual(self.ts.predict_proba(self.x.tolist()).dtype, np.float32)

    def test_out_and_in_place(self):
        p = self.ts.predict_proba(self.x)
        buf = np.full_like(self.x, 7.0)
        r = self.ts.predict_proba(self.x, out=buf)
        self.assertIs(r, buf)
        np.testing.assert_array_equal(buf, p)
        x = self.x.copy()
        r = self.ts.predict_proba(x, out=x)
        self.assertIs(r, x)
        np.testing.assert_array_equal(x, p)
        for bad in (np.empty(self.x.shape, np.float64), np.empty((3, 10), np.float32),
                    np.empty(self.x.shape, np.float32, order="F")):
            with self.assertRaises(calib.CalibError) as cm:
                self.ts.predict_proba(self.x, out=bad)
            self.assertEqual(cm.exception.code, calib.E_ARG)

    def test_label_forms(self):
        y = self.y
        ref = calib.TemperatureScaling().fit(self.x, y.astype(np.int64)).temperature_
        for form in (y.astype(np.int32), y.astype(np.uint8), y.astype(np.float64), y.reshape(-1, 1), list(y)):
            self.assertEqual(calib.TemperatureScaling().fit(self.x, form).temperature_, ref)
        for bad, code in ((y + 0.5, calib.E_LABEL), (y.astype(str), calib.E_LABEL),
                          (np.stack([y, y], 1), calib.E_ARG)):
            with self.assertRaises(calib.CalibError) as cm:
                calib.TemperatureScaling().fit(self.x, bad)
            self.assertEqual(cm.exception.code, code)

    def test_binary_shapes(self):
        rng = np.random.default_rng(3)
        s = rng.normal(0, 3, 2000).astype(np.float32)
        yb = (rng.random(2000) < special.expit(s / 2.5)).astype(np.int64)
        m = calib.TemperatureScaling().fit(s, yb)
        p1 = m.predict_proba(s)
        self.assertEqual(p1.shape, (2000,))
        p2 = m.predict_proba(s.reshape(-1, 1))
        self.assertEqual(p2.shape, (2000, 1))
        np.testing.assert_array_equal(p1, p2.ravel())
        np.testing.assert_array_equal(m.predict(s), (p1 > 0.5).astype(np.int64))
        np.testing.assert_array_equal(m.classes_, [0, 1])


# ---- errors ----------------------------------------------------------------------------
class TestErrors(unittest.TestCase):
    def setUp(self):
        self.x, self.y = shipped("val")
        self.x, self.y = self.x[:500], self.y[:500].astype(np.int64)

    def raises(self, code, fn, *a, **kw):
        with self.assertRaises(calib.CalibError) as cm:
            fn(*a, **kw)
        e = cm.exception
        self.assertEqual(e.code, code, str(e))
        self.assertIsInstance(e, ValueError)
        self.assertEqual(e.reason, calib.strerror(code))
        self.assertIn(calib.strerror(code), str(e))
        self.assertIn(_ids.STATUS_NAMES[code], str(e))
        return e

    def test_fit_errors(self):
        fit = calib.TemperatureScaling().fit
        x, y = self.x, self.y
        nan = x.copy()
        nan[3, 4] = np.nan
        inf = x.copy()
        inf[7, 0] = np.inf
        self.raises(calib.E_NONFINITE, fit, nan, y)
        self.raises(calib.E_NONFINITE, fit, inf, y)
        self.raises(calib.E_EMPTY, fit, x[:0], y[:0])
        bad = y.copy()
        bad[0] = 10
        self.raises(calib.E_LABEL, fit, x, bad)
        bad[0] = -1
        self.raises(calib.E_LABEL, fit, x, bad)
        self.raises(calib.E_ONECLASS, fit, x, np.zeros_like(y))
        e = self.raises(calib.E_ARG, fit, x, y[:-1])
        self.assertIn("499 rows", str(e))
        self.raises(calib.E_ARG, fit, x[None], y)
        self.raises(calib.E_ARG, fit, np.empty((5, 0), np.float32), y[:5])
        self.raises(calib.E_LABEL, fit, x[:, 0], np.full(len(y), 2))            # k = 1 needs 0/1
        w = np.ones(len(y))
        w[5] = -1
        self.raises(calib.E_DOMAIN, fit, x, y, sample_weight=w)
        self.raises(calib.E_EMPTY, fit, x, y, sample_weight=np.zeros(len(y)))
        w[5] = np.nan
        self.raises(calib.E_NONFINITE, fit, x, y, sample_weight=w)
        self.raises(calib.E_ARG, fit, x, y, sample_weight=np.ones(3))
        sep = np.eye(10, dtype=np.float32)[y] * 5                                # label at every row max
        self.raises(calib.E_SEPARABLE, fit, sep, y)
        self.raises(calib.E_NOSIGNAL, fit, -x, y)

    def test_options(self):
        e = self.raises(calib.E_ARG, calib.TemperatureScaling(tol=5).fit, self.x, self.y)
        self.assertIn("tol=5", str(e))
        self.assertIn("[1e-15, 0.01]", str(e))
        self.raises(calib.E_ARG, calib.TemperatureScaling(max_iter=2.5).fit, self.x, self.y)
        self.raises(calib.E_ARG, calib.TemperatureScaling(max_iter="many").fit, self.x, self.y)
        with self.assertRaises(TypeError):
            calib.TemperatureScaling(bins=3)
        self.raises(calib.E_ARG, calib.TemperatureScaling().set_params, bins=3)
        e = self.raises(calib.E_NOCONV, calib.TemperatureScaling(max_iter=1, tol=1e-15).fit, self.x, self.y)
        self.assertEqual(calib.param_bounds("temperature", "max_iter"), (1.0, 10000.0, 100.0))

    def test_state_kept_after_failed_fit(self):
        ts = calib.TemperatureScaling().fit(self.x, self.y)
        p = ts.predict_proba(self.x)
        T = ts.temperature_
        bad = self.x.copy()
        bad[0, 0] = np.nan
        self.raises(calib.E_NONFINITE, ts.fit, bad, self.y)
        self.assertEqual(ts.temperature_, T)
        np.testing.assert_array_equal(ts.predict_proba(self.x), p)

    def test_apply_errors(self):
        ts = calib.TemperatureScaling()
        with self.assertRaises(calib.NotFittedError) as cm:
            ts.predict_proba(self.x)
        self.assertIsInstance(cm.exception, AttributeError)
        self.assertIn("not fitted", str(cm.exception))
        self.assertFalse(hasattr(ts, "temperature_"))
        self.raises(calib.E_ARG, ts.save, "/tmp/never-written.calib")
        ts.fit(self.x, self.y)
        e = self.raises(calib.E_SHAPE, ts.predict_proba, self.x[:, :3])
        self.assertIn("k = 10", str(e))
        bad = self.x.copy()
        bad[2, 2] = np.inf
        out = np.full_like(bad, 5.0)
        self.raises(calib.E_NONFINITE, ts.predict_proba, bad, out=out)
        self.assertTrue(np.all(out == 5.0))                                      # nothing written

    def test_model_bytes_errors(self):
        ts = calib.TemperatureScaling().fit(self.x, self.y)
        b = ts.to_bytes()
        self.raises(calib.E_FORMAT, calib.from_bytes, b[:-1])
        self.raises(calib.E_FORMAT, calib.from_bytes, b + b"\0")
        corrupt = bytearray(b)
        corrupt[-1] ^= 0xFF
        self.raises(calib.E_FORMAT, calib.from_bytes, bytes(corrupt))
        self.raises(calib.E_FORMAT, calib.from_bytes, b"")
        self.raises(calib.E_IO, calib.load, "/nonexistent/dir/model.calib")
        self.raises(calib.E_IO, ts.save, "/nonexistent/dir/model.calib")

    def test_unavailable_methods(self):
        for name, cls in calib.ESTIMATORS.items():
            if not cls.available():
                self.raises(calib.E_UNSUPPORTED, cls().fit, self.x, self.y)

    def test_load_checks_the_method(self):
        others = [c for n, c in calib.ESTIMATORS.items() if n != "temperature" and c.available()]
        if not others:
            self.skipTest("no second method in this build")
        b = others[0]().fit(self.x, self.y).to_bytes()
        e = self.raises(calib.E_ARG, calib.TemperatureScaling.from_bytes, b)
        self.assertIn("holds a %r model" % others[0].method, str(e))
        self.assertIs(type(calib.from_bytes(b)), others[0])

    def test_metric_errors(self):
        p = ref_probs(self.x).astype(np.float32)
        y = self.y
        self.raises(calib.E_ARG, calib.ece, p, y, bins=0)
        self.raises(calib.E_ARG, calib.ece, p, y, bins=-1)
        self.raises(calib.E_ARG, calib.mce, p, y, bins=2.5)
        bad = p.copy()
        bad[0, 0] = 1.5
        self.raises(calib.E_DOMAIN, calib.brier, bad, y)
        bad[0, 0] = np.nan
        self.raises(calib.E_NONFINITE, calib.nll, bad, y)
        self.raises(calib.E_EMPTY, calib.accuracy, p[:0], y[:0])
        self.raises(calib.E_LABEL, calib.ece, p, y + 10)
        self.raises(calib.E_ARG, calib.accuracy, p, y[:3])

    def test_error_object(self):
        e = calib.CalibError(calib.E_LABEL, "detail here")
        self.assertEqual(str(e), "detail here: label out of range (CALIB_E_LABEL)")
        e2 = pickle.loads(pickle.dumps(e))
        self.assertEqual((e2.code, str(e2)), (e.code, str(e)))


# ---- metrics and kernels vs references ----------------------------------------------------
class TestMetrics(unittest.TestCase):
    def check_metrics(self, p, y, label):
        p64 = np.asarray(p, np.float64)
        pred, _ = ref_top(p64)
        self.assertEqual(calib.accuracy(p, y), np.mean(pred == y), label)
        self.assertTrue(close(calib.nll(p, y), ref_nll(p64, y), 1e-12), label)
        self.assertTrue(close(calib.brier(p, y), ref_brier(p64, y), 1e-12), label)
        for bins in (1, 10, 15, 100):
            e, m = ref_binned(p64, y, bins)
            self.assertTrue(close(calib.ece(p, y, bins=bins), e, 1e-10, 1e-15), (label, bins))
            self.assertTrue(close(calib.mce(p, y, bins=bins), m, 1e-10, 1e-15), (label, bins))

    def test_shipped(self):
        from sklearn.metrics import accuracy_score, log_loss
        z, y = shipped("test")
        p = ref_probs(z).astype(np.float32)
        self.check_metrics(p, y, "shipped")
        self.assertEqual(calib.accuracy(p, y), accuracy_score(y, np.argmax(z, 1)))
        q = p.astype(np.float64)
        self.assertTrue(close(calib.nll(p, y), log_loss(y, q / q.sum(1, keepdims=True), eps=1e-300), 1e-6))
        self.assertTrue(close(calib.nll_logits(z, y), ref_nll_logits(z, y), 1e-10))
        # the published figures of meta.json (Kull et al. 2019; markus93): 92.42 %, ECE15 0.055003, MCE15 0.333955
        self.assertAlmostEqual(calib.accuracy(p, y), 0.9242, places=12)
        self.assertAlmostEqual(calib.ece(p, y, bins=15), 0.055003, delta=1e-6)
        self.assertAlmostEqual(calib.mce(p, y, bins=15), 0.333955, delta=1e-6)
        self.assertAlmostEqual(calib.brier(p, y) / 10, 0.012738, delta=1e-6)

    def test_shared_multiclass(self):
        for name, k, _, (z, y) in shared_sets():
            p = ref_probs(z).astype(np.float32)
            self.check_metrics(p, y, name)
            self.assertTrue(close(calib.nll_logits(z, y), ref_nll_logits(z, y), 1e-10), name)

    def test_shared_binary(self):
        from sklearn.metrics import brier_score_loss
        for name, k, _, (z, y) in shared_sets(kinds=("binary_logit",)):
            p = ref_probs(z).astype(np.float32)
            self.check_metrics(p, y, name)
            self.assertTrue(close(calib.brier(p, y), brier_score_loss(y, p.astype(np.float64)), 1e-10))
            self.assertTrue(close(calib.nll_logits(z, y), ref_nll_logits(z, y), 1e-10), name)

    def test_bin_edges(self):
        for bins in (1, 3, 10, 15):
            for b in range(bins + 1):
                c = b / bins
                self.assertEqual(calib.bin_index(c, bins), max(b - 1, 0))
        self.assertEqual(calib.bin_index(0.30000000000000004, 10), 3)

    def test_kernels(self):
        z, _ = shipped("val")
        for beta in (1.0, 0.3469):
            np.testing.assert_allclose(calib.softmax(z, beta), special.softmax(beta * z.astype(np.float64), 1),
                                       rtol=2e-6, atol=1e-6)
            np.testing.assert_allclose(calib.log_softmax(z, beta),
                                       special.log_softmax(beta * z.astype(np.float64), 1), atol=1e-5)
        np.testing.assert_allclose(calib.softmax(z[0]), special.softmax(z[0].astype(np.float64)), atol=1e-6)
        s = z[:, 0].copy()
        np.testing.assert_allclose(calib.sigmoid(s, 0.5), special.expit(0.5 * s.astype(np.float64)), atol=1e-6)
        x = z.copy()
        self.assertIs(calib.softmax(x, out=x), x)
        np.testing.assert_array_equal(x, calib.softmax(z))
        with self.assertRaises(calib.CalibError) as cm:
            calib.softmax(z, beta=0.0)
        self.assertEqual(cm.exception.code, calib.E_ARG)


# ---- estimators ---------------------------------------------------------------------------
def assert_same(a, b):
    if isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    elif isinstance(b, str):
        assert a == b, (a, b)
    else:
        np.testing.assert_array_equal(a, b)


def generic_checks(tc, est, x_val, y_val, x_test, label):
    """What every fitted estimator must do, whatever its method."""
    cls = type(est)
    p = est.predict_proba(x_test)
    tc.assertEqual(p.dtype, np.float32)
    tc.assertEqual(p.shape, np.shape(x_test))
    tc.assertTrue(np.all((p >= 0) & (p <= 1)), label)
    if p.ndim == 2 and p.shape[1] > 1:
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5, err_msg=label)
        np.testing.assert_array_equal(est.predict(x_test), np.argmax(p, 1))
    # model bytes, file, pickle, deepcopy: identical probabilities
    again = [cls.from_bytes(est.to_bytes()), calib.from_bytes(est.to_bytes()), pickle.loads(pickle.dumps(est)),
             copy.deepcopy(est)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.calib")
        est.save(path)
        again += [cls.load(path), calib.load(path)]
    for other in again:
        tc.assertIs(type(other), cls)
        tc.assertEqual(other.to_bytes(), est.to_bytes())
        np.testing.assert_array_equal(other.predict_proba(x_test), p, err_msg=label)
        for attr, v in est.model_params().items():
            assert_same(getattr(other, attr), v)
    # parameters: the scikit-learn protocol, clone included
    from sklearn.base import clone
    params = est.get_params()
    tc.assertEqual(set(params), set(cls._options))
    c = clone(est)
    tc.assertEqual(c.get_params(), params)
    tc.assertIsNone(c._model)
    tc.assertIs(est.set_params(**params), est)
    tc.assertTrue(repr(est).startswith(cls.__name__ + "("))
    tc.assertEqual(est.n_features_in_, 1 if np.ndim(x_test) == 1 else np.shape(x_test)[1])
    return p


class TestTemperature(unittest.TestCase):
    def test_shipped(self):
        (zv, yv), (zt, yt) = shipped("val"), shipped("test")
        ts = calib.TemperatureScaling().fit(zv, yv)
        T = ref_temperature(zv, yv)
        self.assertTrue(close(ts.temperature_, T, 1e-6), (ts.temperature_, T))
        self.assertTrue(close(ts.fit_report_["nll_after"], ref_nll_logits(zv, yv, T), 1e-9))
        self.assertTrue(close(ts.fit_report_["nll_before"], ref_nll_logits(zv, yv), 1e-9))
        p = generic_checks(self, ts, zv, yv, zt, "shipped")
        np.testing.assert_allclose(p, ref_probs(zt, T), rtol=2e-6, atol=1e-6)
        # meta.json's published figures after temperature scaling (Kull et al. 2019): ECE 0.009464, NLL 0.225086
        self.assertAlmostEqual(calib.ece(p, yt, bins=15), 0.009464, delta=2e-6)
        self.assertAlmostEqual(calib.nll(p, yt), 0.225086, delta=2e-6)
        self.assertAlmostEqual(ts.temperature_, 2.883, delta=5e-4)

    def test_weights(self):
        zv, yv = shipped("val")
        rng = np.random.default_rng(11)
        w = rng.integers(0, 4, len(yv)).astype(np.float64)
        a = calib.TemperatureScaling().fit(zv, yv, sample_weight=w).temperature_
        rows = np.repeat(np.arange(len(yv)), w.astype(int))
        b = calib.TemperatureScaling().fit(zv[rows], yv[rows]).temperature_
        self.assertTrue(close(a, b, 1e-9), (a, b))                              # weight = row repetition
        self.assertTrue(close(a, ref_temperature(zv, yv, w), 1e-6))

    def test_options_reach_the_fitter(self):
        zv, yv = shipped("val")
        ts = calib.TemperatureScaling(max_iter=50, tol=1e-12).fit(zv, yv)
        self.assertEqual(ts.fitter_options_, {"max_iter": 50.0, "tol": 1e-12})
        self.assertLessEqual(ts.n_iter_, 50)

    def test_shared_multiclass(self):
        for name, k, (zv, yv), (zt, yt) in shared_sets():
            ts = calib.TemperatureScaling().fit(zv, yv)
            T = ref_temperature(zv, yv)
            self.assertTrue(close(ts.temperature_, T, 1e-6), (name, ts.temperature_, T))
            p = ts.predict_proba(zt)
            np.testing.assert_allclose(p, ref_probs(zt, T), rtol=2e-6, atol=1e-6, err_msg=name)

    def test_shared_binary(self):
        for name, k, (zv, yv), (zt, yt) in shared_sets(kinds=("binary_logit",)):
            ts = calib.TemperatureScaling().fit(zv, yv)
            T = ref_temperature(zv, yv)
            self.assertTrue(close(ts.temperature_, T, 1e-6), (name, ts.temperature_, T))
            p = generic_checks(self, ts, zv, yv, zt, name)
            np.testing.assert_allclose(p, ref_probs(zt, T), rtol=2e-6, atol=1e-6, err_msg=name)


class TestEveryAvailableEstimator(unittest.TestCase):
    """Generic checks for every method the library can fit (method-specific
    references are in test_binding_methods.py)."""

    def test_all(self):
        (zv, yv), (zt, _) = shipped("val"), shipped("test")
        avail = calib.available_methods()
        self.assertIn("temperature", avail)
        for name in avail:
            est = calib.ESTIMATORS[name]().fit(zv, yv)
            generic_checks(self, est, zv, yv, zt, name)
        print("estimators available: %s" % ", ".join(avail), file=sys.stderr)


# One child process per kernel table: out= at byte offset 1 of a guarded buffer,
# n = 4000 and k = 300 / 1000 (outputs over 4 MiB: the AVX-512 streamed path,
# which died with SIGSEGV there before the fix), for predict_proba, softmax,
# log_softmax and sigmoid; values against an aligned call, guard bytes intact.
MISALIGNED_OUT_CHILD = r"""
import sys
import numpy as np
import calib
rng = np.random.default_rng(10)
n = 4000
for k in (300, 1000):
    z = (3 * rng.standard_normal((n, k))).astype(np.float32)
    y = np.argmax(z + 3 * rng.standard_normal((n, k)), axis=1)
    ts = calib.TemperatureScaling().fit(z, y)
    calls = [("predict_proba", lambda x, out=None: ts.predict_proba(x, out=out)),
             ("softmax", lambda x, out=None: calib.softmax(x, 0.7, out=out)),
             ("log_softmax", lambda x, out=None: calib.log_softmax(x, out=out)),
             ("sigmoid", lambda x, out=None: calib.sigmoid(x, out=out))]
    for name, f in calls:
        ref = f(z)
        buf = bytearray(b"\xa5" * (z.nbytes + 8))
        out = np.frombuffer(buf, np.float32, z.size, offset=1).reshape(z.shape)
        assert not out.flags.aligned
        r = f(z, out=out)
        assert r is out, name
        np.testing.assert_allclose(out, ref, rtol=0, atol=2e-5 if name == "log_softmax" else 2e-6, err_msg=name)
        assert buf[:1] == b"\xa5" and buf[1 + z.nbytes:] == b"\xa5" * 7, name + ": guard bytes overwritten"
        f(out, out=out)  # misaligned in place (the input side is copied to an aligned array first)
        if name != "log_softmax":
            np.testing.assert_allclose(out, f(ref), rtol=0, atol=2e-6, err_msg=name + " in place")
sys.stdout.write(calib.isa())
"""


class TestMisalignedOut(unittest.TestCase):
    def test_byte_misaligned_out_every_isa(self):
        seen = []
        for isa in ("scalar", "avx2", "avx512", "neon"):
            env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"), CALIB_ISA=isa)
            probe = subprocess.run([sys.executable, "-c", "import calib, sys; sys.stdout.write(calib.isa())"],
                                   env=env, capture_output=True, text=True)
            if probe.stdout != isa:   # not on this CPU (detection chose another table)
                continue
            r = subprocess.run([sys.executable, "-c", MISALIGNED_OUT_CHILD], env=env, capture_output=True,
                               text=True, timeout=600)
            self.assertEqual(r.returncode, 0, "CALIB_ISA=%s: exit %d (negative: killed by that signal)\n%s"
                             % (isa, r.returncode, r.stderr[-3000:]))
            self.assertEqual(r.stdout, isa)
            seen.append(isa)
        self.assertIn("scalar", seen)
        print("misaligned out= checked on: %s" % ", ".join(seen), file=sys.stderr)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=1)
    sys.exit(datagate.finish(prog.result))
