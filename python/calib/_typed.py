"""Typed logits (calib.h "Typed inputs"): int8 / uint8 with a scale and zero
point (per tensor or per class), float16, bfloat16, passed to the library as
they are -- no float32 copy is made in Python.

typed(a, scale, zero_point, what) returns None when `a` is not one of those
types and no quantization was asked for (the caller then takes its float32
path), else a TypedArgs holding the calib_input Structure, n, k and the arrays
it points to (kept alive for the C call). Recognised inputs:
  numpy float16, int8, uint8 arrays; ml_dtypes.bfloat16 arrays (numpy dtype
  named "bfloat16"); CPU torch tensors of torch.float16 / int8 / uint8 /
  bfloat16 (read through a view of their memory, bfloat16 as its int16 bits).
Rows may be strided (ld = the row stride) as long as each row is contiguous;
anything else is made contiguous once (a copy of the same type, never float32).
Integer inputs need scale= (a positive float, or k per-class floats);
zero_point= (int, or k per-class ints) defaults to 0. Quantization arguments
on a float input raise CalibError(CALIB_E_ARG).
"""
import ctypes

import numpy as np

from . import _ids
from ._interop import _is_torch, as_ndarray
from ._lib import CalibError

DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_I8, DTYPE_U8 = 1, 2, 3, 4, 5


class Input(ctypes.Structure):
    """struct calib_input of calib.h."""
    _fields_ = [("dtype", ctypes.c_int), ("data", ctypes.c_void_p), ("ld", ctypes.c_size_t),
                ("scale", ctypes.c_float), ("zero_point", ctypes.c_int32),
                ("col_scale", ctypes.c_void_p), ("col_zero_point", ctypes.c_void_p)]


class TypedArgs(object):
    __slots__ = ("input", "n", "k", "shape", "keep")

    @property
    def ptr(self):
        return ctypes.addressof(self.input)


def _torch_view(a):
    """A numpy view of a CPU torch tensor's memory (bfloat16 as int16 bits),
    and the dtype code, or (None, None) for other dtypes."""
    import torch  # only reached when `a` is a torch tensor
    t = a.detach()
    if t.device.type != "cpu":
        raise CalibError(_ids.E_ARG, "a torch tensor on %s; the library reads host memory: pass tensor.cpu()"
                         % t.device)
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy(), DTYPE_BF16
    if t.dtype in (torch.float16, torch.int8, torch.uint8):
        return t.numpy(), None
    return None, None


# Native-byte-order float16, int8, uint8 by their one-letter type codes:
# comparing a dtype with np.float16 (a scalar type) builds a dtype per call,
# and three such tests were 1.7 us of predict_proba's 4 us on one row of
# 1000 logits (bench_binding.py), every float32 call paying them.
_BY_CHAR = {"e": DTYPE_F16, "b": DTYPE_I8, "B": DTYPE_U8}


def _code(dt):
    if dt.itemsize > 2:  # float32 and every other wide type: not a typed input
        return None
    code = _BY_CHAR.get(dt.char)
    if code is not None:
        return code if dt.isnative else None
    if dt.name == "bfloat16" and dt.itemsize == 2:  # ml_dtypes.bfloat16
        return DTYPE_BF16
    return None


def _per_class(v, k, dtype, what):
    arr = np.require(np.asarray(v, dtype=dtype), requirements=("C", "A"))
    if arr.ndim != 1 or arr.shape[0] != k:
        raise CalibError(_ids.E_ARG, "%s: per-class values must have shape (%d,); got %s" % (what, k, arr.shape))
    return arr


def typed(a, scale=None, zero_point=None, what="logits"):
    code = None
    if _is_torch(a):
        view, code = _torch_view(a)
        if view is None:
            if scale is not None or zero_point is not None:
                raise CalibError(_ids.E_ARG, "%s: scale/zero_point need int8 or uint8 logits; got torch %s"
                                 % (what, a.dtype))
            return None
        a = view
    elif type(a) is not np.ndarray:
        a = as_ndarray(a)
        if not isinstance(a, np.ndarray):
            a = np.asarray(a)
    if code is None:
        code = _code(a.dtype)
    quant = code in (DTYPE_I8, DTYPE_U8)
    if code is None:
        if scale is not None or zero_point is not None:
            raise CalibError(_ids.E_ARG, "%s: scale/zero_point need int8 or uint8 logits; got dtype %s"
                             % (what, a.dtype))
        return None
    if not quant and (scale is not None or zero_point is not None):
        raise CalibError(_ids.E_ARG, "%s: scale/zero_point are for int8/uint8 logits, not %s" % (what, a.dtype))
    if quant and scale is None:
        raise CalibError(_ids.E_ARG, "%s: int8/uint8 logits need scale= (and zero_point=, default 0)" % what)
    if a.ndim == 1:
        n, k = a.shape[0], 1
    elif a.ndim == 2:
        n, k = a.shape
    else:
        raise CalibError(_ids.E_ARG, "%s must be 1-D (binary) or 2-D (n, k); got shape %s" % (what, a.shape))
    if k == 0:
        raise CalibError(_ids.E_ARG, "%s has 0 columns" % what)
    it = a.dtype.itemsize
    ld = k
    if a.ndim == 2 and n > 1 and a.strides[1] == it and a.strides[0] >= k * it and a.strides[0] % it == 0:
        ld = a.strides[0] // it  # strided rows, each contiguous: read in place
    elif not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)  # same element type: never a float32 copy
    s = Input()
    s.dtype = code
    s.data = a.ctypes.data if a.size else None
    s.ld = ld
    keep = [a]
    if quant:
        if np.ndim(scale) == 0:
            s.scale = float(scale)
        else:
            cs = _per_class(scale, k, np.float32, "scale")
            keep.append(cs)
            s.col_scale = cs.ctypes.data
        zp = 0 if zero_point is None else zero_point
        if np.ndim(zp) == 0:
            zi = int(zp)
            if not -2 ** 31 <= zi < 2 ** 31:
                raise CalibError(_ids.E_ARG, "zero_point=%r is outside the element type's range" % (zp,))
            s.zero_point = zi
        else:
            cz = _per_class(zp, k, np.int32, "zero_point")
            keep.append(cz)
            s.col_zero_point = cz.ctypes.data
    r = TypedArgs()
    r.input, r.n, r.k, r.shape, r.keep = s, n, k, ((n,) if a.ndim == 1 else (n, k)), keep
    return r


def float32(x, n, k):
    """TypedArgs for float32 C-contiguous (n, k) scores x (from _arrays.scores)."""
    s = Input()
    s.dtype = DTYPE_F32
    s.data = x.ctypes.data if x.size else None
    s.ld = k
    r = TypedArgs()
    r.input, r.n, r.k, r.shape, r.keep = s, n, k, x.shape, [x]
    return r


_OUT = {None: DTYPE_F32, "float32": DTYPE_F32, "float16": DTYPE_F16, "f32": DTYPE_F32, "f16": DTYPE_F16}


def out_dtype(dt):
    """CALIB_DTYPE_F32 or CALIB_DTYPE_F16 from out_dtype= (None, np.float32,
    np.float16 or their names)."""
    key = dt if dt is None or isinstance(dt, str) else np.dtype(dt).name
    if key not in _OUT:
        raise CalibError(_ids.E_ARG, "out_dtype=%r: choose np.float32 or np.float16" % (dt,))
    return _OUT[key]


def output(out, shape, odt, what="out"):
    """The result array: new, or the caller's (C-contiguous, writeable, of
    the output type and shape)."""
    npdt = np.float16 if odt == DTYPE_F16 else np.float32
    if out is None:
        return np.empty(shape, npdt)
    if type(out) is not np.ndarray:
        out = as_ndarray(out, writeable=True)
    if not (isinstance(out, np.ndarray) and out.dtype == npdt and out.flags.c_contiguous
            and out.flags.writeable and out.shape == shape):
        raise CalibError(_ids.E_ARG, "%s must be a writeable C-contiguous %s array of shape %s"
                         % (what, np.dtype(npdt).name, shape))
    return out
