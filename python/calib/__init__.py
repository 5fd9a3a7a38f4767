"""calib -- Python binding of libcalib (post-hoc calibration of classifier
scores), pure ctypes: no compiler, just the shared library.

    import calib
    ts = calib.TemperatureScaling().fit(val_logits, val_labels)
    probs = ts.predict_proba(test_logits)          # float32, softmax(z / T)
    print(ts.temperature_, calib.ece(probs, test_labels, bins=15))

Estimators (scikit-learn style: fit / predict_proba / predict / get_params /
set_params / save / load / pickle): see calib.ESTIMATORS, and
calib.available_methods() for those the loaded library can fit. Metrics are
plain functions (accuracy, nll, nll_logits, brier, ece, mce, ...). Errors
raise calib.CalibError (a ValueError) with .code and the library's message.
The library is found as described in calib._lib; calib.library_path says
which file was loaded.
"""
from ._version import __version__
from ._numpy_check import require_numpy as _require_numpy

_require_numpy()
from ._lib import CalibError, NotFittedError, LIBRARY_PATH as library_path, LIBRARY_VERSION as library_version
from ._lib import strerror, candidate_paths
from . import _ids
from .estimators import (Calibrator, TemperatureScaling, PlattScaling, BetaCalibration, IsotonicCalibration,
                         HistogramBinning, VectorScaling, MatrixScaling, DirichletCalibration,
                         EnsembleTemperatureScaling, ESTIMATORS, load, from_bytes, param_bounds,
                         method_available)
from .metrics import (accuracy, nll, nll_logits, brier, ece, mce, bin_index, calibration_error, debiased_l2_ce,
                      ks_error, mmce, kde_ece, smooth_ece, brier_score, reliability, suite, tao2024, Accumulator)
from .functions import (softmax, log_softmax, sigmoid, softmax_rows, log_softmax_rows, sigmoid_rows, isa, isotonic_regression,
                        isotonic_predict, ROW_OK, ROW_NONFINITE, ROW_DOMAIN)
from . import _verify

_verify.verify(ESTIMATORS)

# status codes, as in calib.h
from ._ids import (OK, E_ARG, E_NONFINITE, E_LABEL, E_ONECLASS, E_NOMEM, E_SMALLBUF, E_FORMAT, E_NOCONV,
                   E_UNSUPPORTED, E_IO, E_SEPARABLE, E_NOSIGNAL, E_SHAPE, E_EMPTY, E_DOMAIN)


def available_methods():
    """Names of the methods the loaded library can fit (e.g. ["temperature", ...])."""
    return [name for name in ESTIMATORS if method_available(name)]


__all__ = ["CalibError", "NotFittedError", "Calibrator", "ESTIMATORS", "available_methods", "load",
           "from_bytes", "param_bounds", "method_available", "accuracy", "nll", "nll_logits", "brier", "ece",
           "mce", "bin_index", "calibration_error", "debiased_l2_ce", "ks_error", "mmce", "kde_ece", "smooth_ece",
           "brier_score", "reliability", "suite", "tao2024", "Accumulator", "softmax", "log_softmax", "sigmoid",
           "softmax_rows", "log_softmax_rows", "sigmoid_rows", "ROW_OK", "ROW_NONFINITE", "ROW_DOMAIN", "isa", "isotonic_regression", "isotonic_predict", "library_path", "library_version",
           "strerror", "candidate_paths", "__version__"] + [cls.__name__ for cls in ESTIMATORS.values()]
