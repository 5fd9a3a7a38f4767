"""The softmax core as plain functions (calib_softmax, calib_log_softmax,
calib_sigmoid, and the row-wise softmax_rows / log_softmax_rows / sigmoid_rows). Results are
float32 arrays of the input's shape; float32
C-contiguous input is read without a copy, and out= may be the input itself.
out= must be a writeable C-contiguous float32 array of the input's shape, at
any address: a byte-misaligned one is written directly (the C library accepts
float arrays at any byte address)."""
import ctypes

import numpy as np

from . import _arrays, _ids, _typed
from ._lib import CalibError, fn

__all__ = ["softmax", "log_softmax", "sigmoid", "softmax_rows", "log_softmax_rows", "sigmoid_rows", "isa", "isotonic_regression",
           "isotonic_predict"]

# row_status values of the row-wise calls: 0 good, else the magnitude of the row's code
ROW_OK, ROW_NONFINITE, ROW_DOMAIN = 0, -_ids.E_NONFINITE, -_ids.E_DOMAIN


def _rowwise(cname, x, beta, out):
    a = _arrays._as(x, _arrays.F32, "x")
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise CalibError(_ids.E_ARG, "x must be one row (k,) or rows (n, k) with k >= 1; got shape %s" % (a.shape,))
    n, k = (1, a.shape[0]) if a.ndim == 1 else a.shape
    y = _arrays.output(out, a.shape)
    st = fn(cname)(_arrays.addr(a), n, k, 0, float(beta), _arrays.addr(y), 0)
    if st:
        raise CalibError(st, "%s on %d x %d (beta = %r)" % (cname, n, k, beta))
    return y


def softmax(x, beta=1.0, out=None, *, scale=None, zero_point=None, out_dtype=None):
    """Row-wise softmax(beta * x) of (n, k) data; a 1-D array is one row.
    Typed x (calib_softmax_typed, read in place, no float32 copy): numpy
    float16 / int8 / uint8, ml_dtypes or torch bfloat16; int8/uint8 need
    scale= (float or k per-class floats) and take zero_point= (default 0):
    softmax of beta * scale * (q - zero_point). out_dtype=np.float16 gives
    float16 probabilities (any input type)."""
    t = _typed.typed(x, scale, zero_point, "x")
    if t is None and out_dtype is None:
        return _rowwise("calib_softmax", x, beta, out)
    if t is None:
        a = _arrays._as(x, _arrays.F32, "x")
        if a.ndim not in (1, 2) or a.shape[-1] == 0:
            raise CalibError(_ids.E_ARG, "x must be one row (k,) or rows (n, k) with k >= 1; got shape %s"
                             % (a.shape,))
        n, k = (1, a.shape[0]) if a.ndim == 1 else a.shape
        t = _typed.float32(a, n, k)
        t.shape = a.shape
    elif t.k == 1 and len(t.shape) == 1:  # a 1-D array is one row, as for float32
        t.n, t.k = 1, t.shape[0]
        t.input.ld = t.k
        if t.input.col_scale or t.input.col_zero_point:
            raise CalibError(_ids.E_ARG, "per-class scale/zero_point need 2-D (n, k) x")
    odt = _typed.out_dtype(out_dtype)
    y = _typed.output(out, t.shape, odt)
    st = fn("calib_softmax_typed")(t.ptr, t.n, t.k, float(beta), _arrays.addr(y) if y.size else None, odt, 0)
    if st:
        raise CalibError(st, "calib_softmax_typed on %d x %d (beta = %r)" % (t.n, t.k, beta))
    return y


def log_softmax(x, beta=1.0, out=None):
    """Row-wise log_softmax(beta * x) of (n, k) data; a 1-D array is one row."""
    return _rowwise("calib_log_softmax", x, beta, out)


def _rows_result(cname, st, status, what):
    """Row-wise calls: CALIB_OK or a bad row's code both return; anything
    else is an argument error, with nothing written."""
    if st and st not in (_ids.E_NONFINITE, _ids.E_DOMAIN):
        raise CalibError(st, "%s %s" % (cname, what))
    return status


def _rowwise_rows(cname, x, beta, out):
    a = _arrays._as(x, _arrays.F32, "x")
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise CalibError(_ids.E_ARG, "x must be one row (k,) or rows (n, k) with k >= 1; got shape %s" % (a.shape,))
    n, k = (1, a.shape[0]) if a.ndim == 1 else a.shape
    y = _arrays.output(out, a.shape)
    status = np.empty(n, np.uint8)
    st = fn(cname)(_arrays.addr(a), n, k, 0, float(beta), _arrays.addr(y), 0,
                   _arrays.addr(status) if n else None, None, None)
    return y, _rows_result(cname, st, status, "on %d x %d (beta = %r)" % (n, k, beta))


def softmax_rows(x, beta=1.0, out=None):
    """Row-wise mode of softmax (calib_softmax_rows): returns (probs, status).
    A row with a NaN or +inf, or only -inf, is not an error: its probabilities
    are NaN and status[i] = 2 (ROW_NONFINITE); every other row is computed
    (status 0). One pass over memory (validation fused into the kernel).
    status is a uint8 array of n (1-D input: of 1). Argument errors raise."""
    return _rowwise_rows("calib_softmax_rows", x, beta, out)


def log_softmax_rows(x, beta=1.0, out=None):
    """Row-wise mode of log_softmax (calib_log_softmax_rows): returns
    (log-probabilities, status), bad rows NaN as in softmax_rows."""
    return _rowwise_rows("calib_log_softmax_rows", x, beta, out)


def sigmoid_rows(x, beta=1.0, out=None):
    """Row-wise mode of sigmoid (calib_sigmoid_rows): returns (probs, status)
    of x's shape; a NaN gives NaN and status 2, everything else is computed."""
    a = _arrays._as(x, _arrays.F32, "x")
    y = _arrays.output(out, a.shape)
    status = np.empty(a.shape, np.uint8)
    st = fn("calib_sigmoid_rows")(_arrays.addr(a), a.size, float(beta), _arrays.addr(y),
                                  _arrays.addr(status) if a.size else None, None, None)
    return y, _rows_result("calib_sigmoid_rows", st, status, "on %d values (beta = %r)" % (a.size, beta))


def sigmoid(x, beta=1.0, out=None):
    """Elementwise 1 / (1 + exp(-beta * x)), any shape."""
    a = _arrays._as(x, _arrays.F32, "x")
    y = _arrays.output(out, a.shape)
    st = fn("calib_sigmoid")(_arrays.addr(a), a.size, float(beta), _arrays.addr(y))
    if st:
        raise CalibError(st, "calib_sigmoid on %d values (beta = %r)" % (a.size, beta))
    return y


def isa():
    """The SIMD path the library chose: "scalar", "avx2", "avx512" or "neon"."""
    return fn("calib_isa")().decode()


def isotonic_regression(x, y, sample_weight=None, increasing=True, y_min=None, y_max=None):
    """Float64 isotonic regression of y on x with scikit-learn's
    IsotonicRegression semantics (calib_isotonic_fit_f64): returns
    (X_thresholds, y_thresholds, increasing_used). increasing: True, False
    or "auto"; y_min/y_max: clip bounds (None: none)."""
    xs = _arrays._as(x, _arrays.F64, "x")
    ys = _arrays._as(y, _arrays.F64, "y")
    n = xs.size
    if xs.ndim != 1 or ys.shape != xs.shape:
        raise CalibError(_ids.E_ARG, "x and y must be 1-D of the same length; got %s and %s" % (xs.shape, ys.shape))
    w = _arrays.weights(sample_weight, n)
    inc = -1 if increasing == "auto" else (1 if increasing else 0)
    lo = -float("inf") if y_min is None else float(y_min)
    hi = float("inf") if y_max is None else float(y_max)
    xt, yt = np.empty(max(n, 1), _arrays.F64), np.empty(max(n, 1), _arrays.F64)
    count, used = ctypes.c_size_t(), ctypes.c_int()
    st = fn("calib_isotonic_fit_f64")(_arrays.addr(xs), _arrays.addr(ys), _arrays.nullable_addr(w), n, inc, lo, hi,
                                      _arrays.addr(xt), _arrays.addr(yt), xt.size, ctypes.byref(count),
                                      ctypes.byref(used))
    if st:
        raise CalibError(st, "isotonic_regression on %d points" % n)
    m = count.value
    return xt[:m].copy(), yt[:m].copy(), bool(used.value)


_OOB = {"clip": 0, "raise": 1, "nan": 2}   # CALIB_OOB_CLIP, CALIB_OOB_ERROR, CALIB_OOB_NAN


def isotonic_predict(X_thresholds, y_thresholds, t, out_of_bounds="nan"):
    """scikit-learn's IsotonicRegression.predict on a threshold table
    (calib_isotonic_predict_f64): float64 results; out_of_bounds "nan"
    (scikit-learn's default), "clip" or "raise" (CalibError CALIB_E_DOMAIN)."""
    xt = _arrays._as(X_thresholds, _arrays.F64, "X_thresholds")
    yt = _arrays._as(y_thresholds, _arrays.F64, "y_thresholds")
    if xt.ndim != 1 or yt.shape != xt.shape:
        raise CalibError(_ids.E_ARG, "threshold tables must be 1-D of the same length")
    tt = _arrays._as(t, _arrays.F64, "t")
    if out_of_bounds not in _OOB:
        raise CalibError(_ids.E_ARG, "out_of_bounds=%r: choose one of 'nan', 'clip', 'raise'" % (out_of_bounds,))
    out = np.empty(tt.shape, _arrays.F64)
    st = fn("calib_isotonic_predict_f64")(_arrays.addr(xt), _arrays.addr(yt), xt.size, _OOB[out_of_bounds],
                                          _arrays.addr(tt), tt.size, _arrays.addr(out))
    if st:
        raise CalibError(st, "isotonic_predict on %d values" % tt.size)
    return out
