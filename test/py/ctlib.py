"""Shared ctypes set-up of the Python reference tests that drive lib/libcalib.so
directly (not through the python/calib package, so a binding bug cannot hide
a library bug): loads the library (exit 77 = skipped when it is not built),
the pointer aliases, the argtypes of the core fitter/model API, and the path of
../shared/data (CALIB_SHARED_DATA overrides it). Run tests from the repo root."""
import ctypes
import os
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
