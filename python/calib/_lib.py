"""Finding and loading libcalib, the C function signatures, and errors.

The library is found, in this order:
  1. the file named by the CALIB_LIBRARY environment variable (then nothing else
     is tried: an explicit choice that fails is an error, never a fallback);
  2. next to this package (a copy bundled by ``pip install``);
  3. ``../lib`` relative to the ``python/`` folder: the repository's own build;
  4. the system search path (``ctypes.util.find_library("calib")``, then the
     SONAME), i.e. an installed ``make install``.
When none loads, ImportError lists every path tried and why it failed.

Calls go through ctypes.CDLL, which releases the GIL for the duration of each C
call: Python threads apply models in parallel.
"""
import ctypes
import ctypes.util
import os
import sys

from . import _ids
from ._version import __version__, VERSION_NUMBER

_c_size_p = ctypes.POINTER(ctypes.c_size_t)
_c_double_p = ctypes.POINTER(ctypes.c_double)
_c_void_pp = ctypes.POINTER(ctypes.c_void_p)
_vp = ctypes.c_void_p
_sz = ctypes.c_size_t
_int = ctypes.c_int
_dbl = ctypes.c_double
_flt = ctypes.c_float


class ModelInfo(ctypes.Structure):
    """struct calib_model_info of calib.h: the provenance a model carries."""
    _fields_ = [("format_version", ctypes.c_uint32), ("has_reference", ctypes.c_int),
                ("created_unix", ctypes.c_int64), ("n", ctypes.c_double),
                ("nll_before", ctypes.c_double), ("ece_before", ctypes.c_double),
                ("brier_before", ctypes.c_double), ("nll_after", ctypes.c_double),
                ("ece_after", ctypes.c_double), ("brier_after", ctypes.c_double),
                ("tag", ctypes.c_char * 256)]


class Error(ctypes.Structure):
    """struct calib_error of calib.h: the detail of one failed call."""
    _fields_ = [("code", ctypes.c_int), ("sys_errno", ctypes.c_int), ("arg", ctypes.c_char_p),
                ("check", ctypes.c_char_p), ("index", ctypes.c_uint64), ("message", ctypes.c_char * 256)]

    def describe(self):
        """"<arg>: <check> (at <index>)[: <errno text>]", the library's words
        without the status text (CalibError adds that), or None when empty."""
        arg = (self.arg or b"").decode("utf-8", "replace")
        what = (self.check or b"").decode("utf-8", "replace")
        if self.code == 0 or not (arg or what):
            return None
        text = "%s: %s" % (arg, what) if arg and what else arg or what
        if what and self.index != 2 ** 64 - 1:
            text += " (at %d)" % self.index
        if self.sys_errno:
            text += ": " + os.strerror(self.sys_errno)
        return text

# name: (restype, argtypes). Every function of calib.h the binding calls.
# Functions of the per-issue blocks that are missing from an older build are
# bound to None, and what needs them raises CalibError(CALIB_E_UNSUPPORTED).
SIGNATURES = {
    "calib_version_number": (ctypes.c_uint, []),
    "calib_version_string": (ctypes.c_char_p, []),
    "calib_strerror": (ctypes.c_char_p, [_int]),
    "calib_softmax": (_int, [_vp, _sz, _sz, _sz, _flt, _vp, _sz]),
    "calib_log_softmax": (_int, [_vp, _sz, _sz, _sz, _flt, _vp, _sz]),
    "calib_sigmoid": (_int, [_vp, _sz, _flt, _vp]),
    "calib_isa": (ctypes.c_char_p, []),
    "calib_method_name": (ctypes.c_char_p, [_int]),
    "calib_method_from_name": (_int, [ctypes.c_char_p]),
    "calib_fitter_create": (_int, [_c_void_pp, _int]),
    "calib_fitter_free": (None, [_vp]),
    "calib_fitter_method": (_int, [_vp]),
    "calib_fitter_set": (_int, [_vp, _int, _dbl]),
    "calib_fitter_get": (_int, [_vp, _int, _c_double_p]),
    "calib_param_bounds": (_int, [_int, _int, _c_double_p, _c_double_p, _c_double_p]),
    "calib_fit": (_int, [_vp, _vp, _sz, _sz, _vp, _vp, _c_void_pp]),
    "calib_fitter_report": (_int, [_vp, _int, _c_double_p]),
    "calib_fitter_error": (_int, [_vp, ctypes.POINTER(Error)]),
    "calib_model_free": (None, [_vp]),
    "calib_model_method": (_int, [_vp]),
    "calib_model_classes": (_sz, [_vp]),
    "calib_model_param": (_int, [_vp, _int, _vp, _sz, _c_size_p]),
    "calib_apply": (_int, [_vp, _vp, _sz, _sz, _vp]),
    "calib_model_size": (_sz, [_vp]),
    "calib_model_save": (_int, [_vp, _vp, _sz, _c_size_p]),
    "calib_model_load": (_int, [_c_void_pp, _vp, _sz]),
    "calib_model_load_ex": (_int, [_c_void_pp, _vp, _sz, ctypes.POINTER(Error)]),
    "calib_model_save_file_ex": (_int, [_vp, ctypes.c_char_p, ctypes.POINTER(Error)]),
    "calib_model_load_file_ex": (_int, [_c_void_pp, ctypes.c_char_p, ctypes.POINTER(Error)]),
    "calib_model_save_file": (_int, [_vp, ctypes.c_char_p]),
    "calib_model_load_file": (_int, [_c_void_pp, ctypes.c_char_p]),
    "calib_accuracy": (_int, [_vp, _sz, _sz, _vp, _c_double_p]),
    "calib_nll": (_int, [_vp, _sz, _sz, _vp, _c_double_p]),
    "calib_nll_logits": (_int, [_vp, _sz, _sz, _vp, _c_double_p]),
    "calib_brier": (_int, [_vp, _sz, _sz, _vp, _c_double_p]),
    "calib_ece": (_int, [_vp, _sz, _sz, _vp, _sz, _c_double_p]),
    "calib_mce": (_int, [_vp, _sz, _sz, _vp, _sz, _c_double_p]),
    "calib_bin_index": (_sz, [_dbl, _sz]),
    # isotonic / histogram block
    "calib_isotonic_fit_f64": (_int, [_vp, _vp, _vp, _sz, _int, _dbl, _dbl, _vp, _vp, _sz, _c_size_p,
                                      ctypes.POINTER(ctypes.c_int)]),
    "calib_isotonic_work_size": (_sz, [_sz, _int]),
    "calib_isotonic_fit_f64_work": (_int, [_vp, _vp, _vp, _sz, _int, _dbl, _dbl, _vp, _vp, _sz, _c_size_p,
                                           ctypes.POINTER(ctypes.c_int), _vp, _sz]),
    "calib_isotonic_predict_f64": (_int, [_vp, _vp, _sz, _int, _vp, _sz, _vp]),
    # metrics suite block
    "calib_calibration_error": (_int, [_vp, _sz, _sz, _vp, _sz, _int, _int, _int, _c_double_p]),
    "calib_debiased_l2_ce": (_int, [_vp, _sz, _sz, _vp, _sz, _int, _int, _c_double_p]),
    "calib_ks_error": (_int, [_vp, _sz, _sz, _vp, _int, _c_double_p]),
    "calib_mmce": (_int, [_vp, _sz, _sz, _vp, _int, _dbl, _c_double_p]),
    "calib_kde_ece": (_int, [_vp, _sz, _sz, _vp, _int, _c_double_p]),
    "calib_smooth_ece": (_int, [_vp, _sz, _sz, _vp, _int, _dbl, _c_double_p, _c_double_p]),
    "calib_brier_score": (_int, [_vp, _sz, _sz, _vp, _int, _c_double_p]),
    "calib_reliability": (_int, [_vp, _sz, _sz, _vp, _sz, _int, _int, _dbl, _vp, _sz, _c_size_p]),
    "calib_accumulator_create": (_int, [_c_void_pp, _sz, _sz, _int]),
    "calib_accumulator_free": (None, [_vp]),
    "calib_accumulator_add": (_int, [_vp, _vp, _sz, _vp]),
    "calib_accumulator_add_logits": (_int, [_vp, _vp, _sz, _vp]),
    "calib_accumulator_add_logits_many": (_int, [_vp, _sz, _vp, _sz, _vp]),
    "calib_accumulator_merge": (_int, [_vp, _vp]),
    "calib_accumulator_value": (_int, [_vp, _int, _c_double_p]),
    "calib_accumulator_reliability": (_int, [_vp, _int, _dbl, _vp, _sz, _c_size_p]),
    "calib_accumulator_size": (_sz, [_vp]),
    "calib_accumulator_save": (_int, [_vp, _vp, _sz, _c_size_p]),
    "calib_accumulator_load": (_int, [_c_void_pp, _vp, _sz]),
    "calib_suite_size": (_sz, [_int]),
    "calib_suite_key": (ctypes.c_char_p, [_int, _sz]),
    "calib_suite_eval": (_int, [_int, _vp, _sz, _sz, _vp, _int, _vp, _vp, _sz]),
    # hot swap (calib_slot): bound for C-level use through ctypes; a calib_slot_ref is
    # three pointer-sized fields (model, version, holder), passed by pointer.
    "calib_slot_create": (_int, [_c_void_pp, _sz]),
    "calib_slot_free": (None, [_vp]),
    "calib_slot_install": (_int, [_vp, _vp, ctypes.POINTER(ctypes.c_uint64)]),
    "calib_slot_rollback": (_int, [_vp, ctypes.POINTER(ctypes.c_uint64)]),
    "calib_slot_version": (ctypes.c_uint64, [_vp]),
    "calib_slot_history": (_sz, [_vp]),
    "calib_slot_apply": (_int, [_vp, _vp, _sz, _sz, _vp, ctypes.POINTER(ctypes.c_uint64)]),
    "calib_slot_acquire": (_int, [_vp, _vp]),
    "calib_slot_release": (None, [_vp]),
    # live monitoring (calib_reference, calib_monitor): bound for C-level use through ctypes
    "calib_reference_compute": (_int, [_c_void_pp, _vp, _sz, _sz, _vp]),
    "calib_reference_free": (None, [_vp]),
    "calib_reference_classes": (_sz, [_vp]),
    "calib_reference_get": (_int, [_vp, _int, _vp, _sz, _c_size_p]),
    "calib_chi2_sf": (_dbl, [_dbl, _dbl]),
    "calib_prior_em": (_int, [_vp, _sz, _sz, _vp, _dbl, _sz, _vp, _c_size_p]),
    "calib_prior_correct": (_int, [_vp, _sz, _sz, _vp, _vp]),
    "calib_monitor_create": (_int, [_c_void_pp, _vp, _vp]),
    "calib_monitor_free": (None, [_vp]),
    "calib_monitor_get": (_int, [_vp, _int, _c_double_p]),
    "calib_monitor_shard_create": (_int, [_vp, _c_void_pp]),
    "calib_monitor_shard_free": (None, [_vp]),
    "calib_monitor_observe": (_int, [_vp, _vp, _sz, _sz]),
    "calib_monitor_feedback": (_int, [_vp, _vp, _vp, _sz, _sz, _vp]),
    "calib_monitor_read": (_int, [_vp, _vp]),
    "calib_monitor_prior": (_int, [_vp, _vp, _sz, _c_size_p]),
    "calib_monitor_reference_prior": (_int, [_vp, _vp, _sz, _c_size_p]),
    "calib_monitor_trial_start": (_int, [_vp]),
    "calib_monitor_decide": (_int, [_vp, _vp]),
    "calib_monitor_decide_slot": (_int, [_vp, _vp, _vp, ctypes.POINTER(ctypes.c_uint64)]),
    # partial sums block (issue 13: calib.dask)
    "calib_temperature_prepass": (_int, [_vp, _sz, _sz, _vp, _vp, _vp]),
    "calib_temperature_partial": (_int, [_vp, _sz, _sz, _vp, _vp, _dbl, _vp]),
    "calib_platt_partial": (_int, [_vp, _sz, _sz, _sz, _vp, _vp, _dbl, _dbl, _dbl, _dbl, _vp]),
    "calib_temperature_model": (_int, [_c_void_pp, _sz, _dbl]),
    "calib_platt_model": (_int, [_c_void_pp, _sz, _vp]),
    # model provenance (issue 11, model format version 2)
    "calib_model_info_get": (_int, [_vp, ctypes.POINTER(ModelInfo)]),
    "calib_model_reference": (_int, [_vp, _c_void_pp]),
    "calib_model_with_reference": (_int, [_c_void_pp, _vp, _vp, ctypes.c_char_p, ctypes.c_int64]),
    "calib_fitter_set_provenance": (_int, [_vp, _int, ctypes.c_char_p]),
    # row-wise mode block (issue 12): bad rows NaN and reported, good rows computed
    "calib_softmax_rows": (_int, [_vp, _sz, _sz, _sz, _flt, _vp, _sz, _vp, _c_size_p, _c_size_p]),
    "calib_log_softmax_rows": (_int, [_vp, _sz, _sz, _sz, _flt, _vp, _sz, _vp, _c_size_p, _c_size_p]),
    "calib_sigmoid_rows": (_int, [_vp, _sz, _flt, _vp, _vp, _c_size_p, _c_size_p]),
    "calib_apply_rows": (_int, [_vp, _vp, _sz, _sz, _vp, _vp, _c_size_p, _c_size_p]),
    # typed inputs (issue 12): a calib_input * is passed as its address (the
    # Structure is calib._typed.Input)
    "calib_dtype_size": (_sz, [_int]),
    "calib_softmax_typed": (_int, [_vp, _sz, _sz, _flt, _vp, _int, _sz]),
    "calib_apply_typed": (_int, [_vp, _vp, _sz, _sz, _vp, _int, _sz]),
    "calib_apply_typed_rows": (_int, [_vp, _vp, _sz, _sz, _vp, _int, _sz, _vp, _c_size_p, _c_size_p]),
    "calib_fit_typed": (_int, [_vp, _vp, _sz, _sz, _vp, _vp, _c_void_pp]),
    "calib_accumulator_add_logits_typed": (_int, [_vp, _vp, _sz, _vp]),
}

# The foundation functions: a library without one of these is not libcalib.
REQUIRED = ("calib_version_number", "calib_strerror", "calib_fitter_create", "calib_fit",
            "calib_apply", "calib_model_save", "calib_model_load", "calib_model_free")


def _lib_names():
    major = VERSION_NUMBER // 10000
    if sys.platform == "darwin":
        return ["libcalib.%d.dylib" % major, "libcalib.dylib"]
    if sys.platform.startswith("win"):
        return ["calib.dll", "libcalib.dll"]
    return ["libcalib.so.%d" % major, "libcalib.so"]


def candidate_paths():
    """The library files this package would try, in order (see module doc)."""
    env = os.environ.get("CALIB_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    repo_lib = os.path.normpath(os.path.join(here, os.pardir, os.pardir, "lib"))
    paths = [os.path.join(here, n) for n in _lib_names()]
    paths += [os.path.join(repo_lib, n) for n in _lib_names()]
    found = ctypes.util.find_library("calib")
    if found:
        paths.append(found)
    paths += [n for n in _lib_names() if n not in paths]
    return paths


def _load():
    tried = []
    for path in candidate_paths():
        if os.sep in path and not os.path.exists(path):
            if os.path.islink(path):
                tried.append("%s: broken symlink to %s" % (path, os.readlink(path)))
            else:
                tried.append("%s: no such file" % path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s: %s" % (path, e))
    hint = ("set CALIB_LIBRARY to the library file" if os.environ.get("CALIB_LIBRARY")
            else "run `make` at the top of the libcalib repository, or set CALIB_LIBRARY=/path/to/libcalib.so")
    raise ImportError("calib: could not load libcalib; tried:\n  " + "\n  ".join(tried) + "\n" + hint)


def _bind(dll, path):
    fns = {}
    for name, (restype, argtypes) in SIGNATURES.items():
        try:
            fn = getattr(dll, name)
        except AttributeError:
            if name in REQUIRED:
                raise ImportError("calib: %s has no symbol %s: not libcalib, or a broken build" % (path, name))
            fns[name] = None
            continue
        fn.restype = restype
        fn.argtypes = argtypes
        fns[name] = fn
    return fns


def _version_ok(lib_number):
    """Same major version; a library at least as new as the package's minor
    (0.x: the same minor, as 0.x minors may break the API). Patches mix freely."""
    lmaj, lmin = lib_number // 10000, lib_number // 100 % 100
    pmaj, pmin = VERSION_NUMBER // 10000, VERSION_NUMBER // 100 % 100
    if lmaj != pmaj:
        return False
    return lmin == pmin if pmaj == 0 else lmin >= pmin


DLL, LIBRARY_PATH = _load()
FN = _bind(DLL, LIBRARY_PATH)
LIBRARY_VERSION = FN["calib_version_string"]().decode("ascii")
if not _version_ok(FN["calib_version_number"]()):
    raise ImportError("calib: %s is libcalib %s, but this package (calib %s) needs %s.x; rebuild the library "
                      "(make) or install the matching package" % (LIBRARY_PATH, LIBRARY_VERSION, __version__,
                                                                __version__.rsplit(".", 1)[0]))


def fn(name):
    """The bound C function `name`, or CalibError(CALIB_E_UNSUPPORTED) when this
    build of the library does not have it."""
    f = FN.get(name)
    if f is None:
        raise CalibError(_ids.E_UNSUPPORTED, "%s is not in %s (libcalib %s)" % (name, LIBRARY_PATH, LIBRARY_VERSION))
    return f


def strerror(code):
    """The library's description of a status code (calib_strerror)."""
    return FN["calib_strerror"](int(code)).decode("utf-8", "replace")


class CalibError(ValueError):
    """An error reported by libcalib (or by the binding's own checks, which use
    the same codes). Attributes: ``code`` (negative CALIB_E_* value), ``name``
    ("CALIB_E_LABEL", ...), ``reason`` (the library's calib_strerror text) and
    ``detail`` (what the binding adds: which argument, which option, ...)."""

    def __init__(self, code, detail=None):
        self.code = int(code)
        self.name = _ids.STATUS_NAMES.get(self.code, "status %d" % self.code)
        self.reason = strerror(self.code)
        self.detail = detail
        text = "%s (%s)" % (self.reason, self.name)
        super().__init__("%s: %s" % (detail, text) if detail else text)

    def __reduce__(self):
        return (type(self), (self.code, self.detail))


class NotFittedError(CalibError, AttributeError):
    """predict_proba/predict/save before fit() or load() (CALIB_E_ARG)."""

    def __init__(self, detail):
        super().__init__(_ids.E_ARG, detail)

    def __reduce__(self):
        return (type(self), (self.detail,))


def check(status, detail=None):
    """Raise CalibError when a C call returned a negative status."""
    if status < 0:
        raise CalibError(status, detail)
    return status
