"""numpy arrays in and out of the C calls.

Inputs already in the library's layout are passed as they are, without a copy:
float32 C-contiguous scores/probabilities, int64 C-contiguous labels, float64
C-contiguous weights (each also aligned for its type). Anything else is converted once (np.ascontiguousarray)
and the converted copy is passed. Outputs are always float32 (the library's
type): a float64 input gives float32 probabilities, never silently float64.
"""
import ctypes

import numpy as np

from . import _ids
from ._interop import as_ndarray
from ._lib import CalibError

F32 = np.dtype(np.float32)
I64 = np.dtype(np.int64)
F64 = np.dtype(np.float64)

_c_char = ctypes.c_char
_addressof = ctypes.addressof


def addr(a):
    """Address of a C-contiguous array's first element (cheapest route first:
    the buffer protocol; read-only or empty arrays go through a.ctypes)."""
    try:
        return _addressof(_c_char.from_buffer(a))
    except (TypeError, ValueError, BufferError):
        return a.ctypes.data


def _as(a, dtype, what):
    if type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned:
        return a
    a = as_ndarray(a)  # torch tensors, __array_interface__, DLPack: a view of their memory
    try:
        return np.require(a, dtype=dtype, requirements=("C", "A"))
    except (TypeError, ValueError) as e:
        raise CalibError(_ids.E_ARG, "%s: cannot be read as %s numbers (%s)" % (what, dtype, e)) from None


def scores(a, what="logits"):
    """-> (float32 C-contiguous array, n, k). 1-D input is binary (k = 1):
    one log-odds score (or probability) per row; 2-D input is (n, k)."""
    x = _as(a, F32, what)
    if x.ndim == 2:
        n, k = x.shape
    elif x.ndim == 1:
        n, k = x.shape[0], 1
    else:
        raise CalibError(_ids.E_ARG, "%s must be 1-D (binary) or 2-D (n, k); got shape %s" % (what, x.shape))
    if k == 0:
        raise CalibError(_ids.E_ARG, "%s has 0 columns" % what)
    return x, n, k


def labels(y, n, what="y"):
    """-> int64 C-contiguous labels of length n. int64 passes as is; other
    integer or bool dtypes, and floats holding integers, are converted once."""
    if not (type(y) is np.ndarray and y.dtype == I64 and y.flags.c_contiguous and y.flags.aligned):
        y = np.asarray(as_ndarray(y))
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or np.any(y != np.floor(y)):
                raise CalibError(_ids.E_LABEL, "%s: labels must be integers; got non-integer %s values"
                                 % (what, y.dtype))
        elif y.dtype.kind not in "iub":
            raise CalibError(_ids.E_LABEL, "%s: labels must be integers; got dtype %s" % (what, y.dtype))
        y = np.require(y, dtype=I64, requirements=("C", "A"))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise CalibError(_ids.E_ARG, "%s must be 1-D (n,) or (n, 1); got shape %s" % (what, y.shape))
    if y.shape[0] != n:
        raise CalibError(_ids.E_ARG, "%s has %d rows but the scores have %d" % (what, y.shape[0], n))
    return y


def scored(a, y, what="logits"):
    """-> (scores, n, k, labels): scores(a, what) and their labels(y, n)."""
    x, n, k = scores(a, what)
    return x, n, k, labels(y, n)


def weights(w, n, what="sample_weight"):
    """-> None, or float64 C-contiguous weights of length n."""
    if w is None:
        return None
    w = _as(w, F64, what)
    if w.ndim != 1 or w.shape[0] != n:
        raise CalibError(_ids.E_ARG, "%s must have shape (%d,); got %s" % (what, n, w.shape))
    return w


def output(out, shape, what="out"):
    """A float32 result array of `shape`: a new one, or the caller's `out`
    (which must be float32, C-contiguous, writeable and of that shape; it may
    be the input itself for an in-place call). Its alignment is not checked:
    the C library writes float arrays at any byte address, so a misaligned
    `out` (out.flags.aligned False, e.g. np.frombuffer(buf, np.float32,
    offset=1)) is written directly, not through a copy. Inputs are still
    converted to an aligned copy (scores(), _as())."""
    if out is None:
        return np.empty(shape, F32)
    if type(out) is not np.ndarray:
        out = as_ndarray(out, writeable=True)  # a torch tensor: its memory, written in place
    if not (isinstance(out, np.ndarray) and out.dtype == F32 and out.flags.c_contiguous
            and out.flags.writeable and out.shape == shape):
        raise CalibError(_ids.E_ARG, "%s must be a writeable C-contiguous float32 array of shape %s"
                         % (what, shape))
    return out


def nullable_addr(a):
    return None if a is None else addr(a)
