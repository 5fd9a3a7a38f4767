"""Import-time check of the id table (_ids.py) against the loaded library.

- Each method id must have the name calib_method_name() gives it.
- Each option an estimator class takes must be accepted by
  calib_param_bounds(method, id) whenever the library can fit that method.
A disagreement means the binding and the library were built from different
headers: setting an option could silently set another one, so import fails.
Options the library has but the binding does not know are only reported
(missing_options()): the binding is older than the library.
"""
import ctypes

from . import _ids
from ._lib import FN, LIBRARY_PATH, LIBRARY_VERSION

_MAX_OPTION_ID = 64


def _bounds_ok(method_id, option_id):
    return FN["calib_param_bounds"](method_id, option_id, None, None, None) == 0


def _built(method_id):
    f = ctypes.c_void_p()
    if FN["calib_fitter_create"](ctypes.byref(f), method_id) != 0:
        return False
    FN["calib_fitter_free"](f)
    return True


def mismatches(registry):
    """Every disagreement between the binding's ids and the library's."""
    bad = []
    for name, mid in _ids.METHODS.items():
        got = FN["calib_method_name"](mid)
        if got is not None and got.decode() != name:
            bad.append("method id %d is %r in the library, %r in the binding" % (mid, got.decode(), name))
    for name, cls in registry.items():
        mid = _ids.METHODS[name]
        if not _built(mid):
            continue
        for opt in cls._options:
            if not _bounds_ok(mid, _ids.OPTIONS[opt]):
                bad.append("%s option %r (id %d) is not an option of method %r in the library"
                           % (cls.__name__, opt, _ids.OPTIONS[opt], name))
    return bad


def missing_options(registry):
    """Option ids the library accepts for a method that the class does not expose."""
    missing = []
    for name, cls in registry.items():
        mid = _ids.METHODS[name]
        if not _built(mid):
            continue
        known = {_ids.OPTIONS[o] for o in cls._options}
        for pid in range(1, _MAX_OPTION_ID + 1):
            if pid not in known and _bounds_ok(mid, pid):
                missing.append("%s: library option id %d of %r has no keyword" % (cls.__name__, pid, name))
    return missing


def verify(registry):
    bad = mismatches(registry)
    if bad:
        raise ImportError("calib: the binding's ids disagree with %s (libcalib %s):\n  %s"
                          % (LIBRARY_PATH, LIBRARY_VERSION, "\n  ".join(bad)))
