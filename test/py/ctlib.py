"""Shared ctypes set-up of the Python reference tests that drive lib/libcalib.so
directly (not through the python/calib package, so a binding bug cannot hide
a library bug): loads the library (exit 77 = skipped when it is not built),
the pointer aliases, the argtypes of the core fitter/model API, the integer
constants of include/calib.h (C["CALIB_..."]), the path of ../shared/data
(CALIB_SHARED_DATA overrides it), and the marshalling every test repeats:
fit(), param(), apply(). Run tests from the repo root."""
import ctypes
import os
import re
import sys

LIB = os.path.join("lib", "libcalib.so")
if not os.path.exists(LIB):
    print("skipped: %s not built (run make)" % LIB)
    sys.exit(77)
lib = ctypes.CDLL(LIB)
SHARED = os.environ.get("CALIB_SHARED_DATA", os.path.join("..", "shared", "data"))

D = ctypes.POINTER(ctypes.c_double)
F = ctypes.POINTER(ctypes.c_float)
I64 = ctypes.POINTER(ctypes.c_int64)
SZ = ctypes.c_size_t
VP = ctypes.c_void_p

lib.calib_fitter_create.argtypes = [ctypes.POINTER(VP), ctypes.c_int]
lib.calib_fitter_set.argtypes = [VP, ctypes.c_int, ctypes.c_double]
lib.calib_fitter_free.argtypes = [VP]
lib.calib_fitter_report.argtypes = [VP, ctypes.c_int, D]
lib.calib_fit.argtypes = [VP, F, SZ, SZ, I64, D, ctypes.POINTER(VP)]
lib.calib_apply.argtypes = [VP, F, SZ, SZ, F]
lib.calib_model_param.argtypes = [VP, ctypes.c_int, D, SZ, ctypes.POINTER(SZ)]
lib.calib_model_free.argtypes = [VP]
lib.calib_strerror.argtypes = [ctypes.c_int]
lib.calib_strerror.restype = ctypes.c_char_p

with open(os.path.join("include", "calib.h")) as _h:
    C = {m.group(1): int(m.group(2)) for m in re.finditer(r"#define\s+(CALIB_\w+)\s+(-?\d+)\b", _h.read())}


def strerror(st):
    return lib.calib_strerror(st).decode()


def _k(x):
    return 1 if x.ndim == 1 else x.shape[1]


def fit(method, x, y, w=None, opts=(), reports=()):
    """One calib_fit of `method` through a new fitter: opts is a dict or
    (id, value) pairs, each calib_fitter_set asserted; x float32 (n,) or
    (n, k), y int64, w float64 or None. Returns (status, model handle (free
    it with lib.calib_model_free; NULL on failure), k, {report id: value} for
    the ids in reports, read from the fitter after the fit)."""
    import numpy as np
    x = np.ascontiguousarray(x, np.float32)
    y = np.ascontiguousarray(y, np.int64)
    k = _k(x)
    f, m = VP(), VP()
    assert lib.calib_fitter_create(ctypes.byref(f), method) == 0
    for p, v in (opts.items() if isinstance(opts, dict) else opts):
        assert lib.calib_fitter_set(f, p, float(v)) == 0, (p, v)
    wp = None
    if w is not None:
        w = np.ascontiguousarray(w, np.float64)
        wp = w.ctypes.data_as(D)
    st = lib.calib_fit(f, x.ctypes.data_as(F), len(y), k, y.ctypes.data_as(I64), wp, ctypes.byref(m))
    rep = {}
    for item in reports:
        v = ctypes.c_double()
        lib.calib_fitter_report(f, item, ctypes.byref(v))
        rep[item] = v.value
    lib.calib_fitter_free(f)
    return st, m, k, rep


def param(m, which, missing_ok=False):
    """Parameter array `which` of model m (float64), its size asked first;
    None if m has no such array and missing_ok, else asserted."""
    import numpy as np
    cnt = SZ()
    st = lib.calib_model_param(m, which, None, 0, ctypes.byref(cnt))
    if st != 0 and missing_ok:
        return None
    assert st == 0, (which, strerror(st))
    out = np.empty(cnt.value)
    assert lib.calib_model_param(m, which, out.ctypes.data_as(D), cnt.value, ctypes.byref(cnt)) == 0
    return out


def apply_status(m, x, fill=None):
    """calib_apply of m to x (float32, (n,) for k = 1 or (n, k)): (status,
    output), the output filled with `fill` beforehand when given."""
    import numpy as np
    x = np.ascontiguousarray(x, np.float32)
    out = np.empty_like(x) if fill is None else np.full(x.shape, fill, np.float32)
    st = lib.calib_apply(m, x.ctypes.data_as(F), x.shape[0], _k(x), out.ctypes.data_as(F))
    return st, out


def apply(m, x):
    """calib_apply of m to x, asserted to succeed: the output."""
    st, out = apply_status(m, x)
    assert st == 0, strerror(st)
    return out


def matrix_family_built():
    """False in a build without BLAS (make NO_BLAS=1), where vector, matrix and
    Dirichlet scaling must each be refused with CALIB_E_UNSUPPORTED (asserted)."""
    codes = []
    for name in ("VECTOR", "MATRIX", "DIRICHLET"):
        f = VP()
        st = lib.calib_fitter_create(ctypes.byref(f), C["CALIB_METHOD_" + name])
        if st == 0:
            lib.calib_fitter_free(f)
        codes.append(st)
    assert codes in ([0] * 3, [C["CALIB_E_UNSUPPORTED"]] * 3), codes
    return codes[0] == 0
