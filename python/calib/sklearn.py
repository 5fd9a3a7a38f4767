"""scikit-learn integration: CalibratedClassifier, a drop-in for
sklearn.calibration.CalibratedClassifierCV whose calibrators are libcalib's.

    from calib.sklearn import CalibratedClassifier
    clf = CalibratedClassifier(LinearSVC(), method="platt", cv=5).fit(X, y)
    clf.predict_proba(X_test); clf.score(X_test, y_test)

Semantics of CalibratedClassifierCV (scikit-learn 1.2):
  - the scores are the estimator's decision_function if it has one, else
    predict_proba (binary: the positive class's column only);
  - cv="prefit": the estimator is already fitted, one calibrator on (X, y);
    cv=int or a splitter: ensemble=True fits, per fold, a clone of the
    estimator on the training part and a calibrator on the held-out part
    (probabilities averaged over folds); ensemble=False fits one calibrator
    on the concatenated out-of-fold scores (cross_val_predict) and the
    estimator on all of X;
  - multiclass: each class's column calibrated one-vs-rest and the row
    normalised (a row summing to 0 becomes uniform); binary: one column.
method: "sigmoid" (= "platt": PlattScaling with Platt's smoothed targets,
scikit-learn's _sigmoid_calibration), "isotonic" (IsotonicCalibration on the
raw scores, input="scores"), or any libcalib method name ("temperature",
"beta", "histogram", "vector", "matrix", "dirichlet", "ets"), which calibrate
the score matrix as a whole (predict_proba scores enter as log-probabilities).
Sample weights go to the estimator's fit (when it takes them) and to the
calibrator. Differences from scikit-learn: with sample weights, Platt's
smoothed targets use the weighted class totals (scikit-learn counts rows).
"""
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import check_cv, cross_val_predict
from sklearn.preprocessing import LabelEncoder
from sklearn.svm import LinearSVC
from sklearn.utils import _safe_indexing, indexable
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, has_fit_parameter

from . import estimators as _est

__all__ = ["CalibratedClassifier"]

_ALIASES = {"sigmoid": "platt"}
_OVR = ("platt", "isotonic", "beta", "histogram")       # one-vs-rest methods: per-column scores


def _calibrator(method):
    name = _ALIASES.get(method, method)
    cls = _est.ESTIMATORS.get(name)
    if cls is None:
        raise ValueError("method %r: choose 'sigmoid', 'isotonic' or one of %s" % (method, ", ".join(_est.ESTIMATORS)))
    if name == "isotonic":
        return cls(input="scores", out_of_bounds="clip")
    if name == "platt":
        return cls(smooth_targets=True)
    return cls()


class _Fold:
    """One fitted estimator and its calibrator."""

    def __init__(self, estimator, calibrator, classes, method_name, response):
        self.estimator, self.calibrator, self.classes, self.method, self.response = (
            estimator, calibrator, classes, method_name, response)


def _response(estimator):
    return "decision_function" if hasattr(estimator, "decision_function") else "predict_proba"


def _scores(estimator, response, X, n_classes, method):
    """The calibrator's input from the estimator's response on X (see _scores_from)."""
    return _scores_from(getattr(estimator, response)(X), response, n_classes, method)


def _fit_calibrator(method, s, y_enc, sample_weight):
    cal = _calibrator(method)
    return cal.fit(s, y_enc, sample_weight=sample_weight)


def _proba(cal, s, n_classes):
    p = np.asarray(cal.predict_proba(s), np.float64)
    if n_classes == 2 and p.ndim == 1:
        return np.stack([1.0 - p, p], axis=1)
    return p


class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """Probability calibration of a classifier with libcalib, with the
    semantics of scikit-learn's CalibratedClassifierCV (module documentation).

    Parameters: estimator (default LinearSVC(random_state=0), as scikit-learn),
    method ("sigmoid"/"platt", "isotonic", "temperature", ...), cv ("prefit",
    an int: StratifiedKFold, a splitter, or None: 5), ensemble (bool).
    Fitted: classes_, n_features_in_, calibrated_classifiers_ (list of
    (estimator, calibrator) pairs)."""

    def __init__(self, estimator=None, *, method="sigmoid", cv=None, ensemble=True):
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.ensemble = ensemble

    def _base(self):
        return LinearSVC(random_state=0) if self.estimator is None else self.estimator

    def fit(self, X, y, sample_weight=None, **fit_params):
        check_classification_targets(y)
        X, y = indexable(X, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        _calibrator(self.method)                       # a bad method fails before any fitting
        base = self._base()
        le = LabelEncoder().fit(y)
        self.classes_ = le.classes_
        y_enc = le.transform(y)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError("CalibratedClassifier needs at least two classes; got %d class" % n_classes)
        self.calibrated_classifiers_ = []
        if self.cv == "prefit":
            check_is_fitted(base, attributes=["classes_"])
            est = base
            self._fold(est, X, y_enc, sample_weight, n_classes, prefit_classes=le.transform(est.classes_))
            if hasattr(est, "n_features_in_"):
                self.n_features_in_ = est.n_features_in_
            return self
        cv = check_cv(self.cv, y, classifier=True)
        takes_w = has_fit_parameter(base, "sample_weight")
        if self.ensemble:
            for train, test in cv.split(X, y):
                est = clone(base)
                w_tr = None if sample_weight is None else sample_weight[train]
                if w_tr is not None and takes_w:
                    est.fit(_take(X, train), y_enc[train], sample_weight=w_tr, **fit_params)
                else:
                    est.fit(_take(X, train), y_enc[train], **fit_params)
                self._fold(est, _take(X, test), y_enc[test],
                           None if sample_weight is None else sample_weight[test], n_classes,
                           prefit_classes=est.classes_)
        else:
            response = _response(base)
            est = clone(base)
            kw = dict(fit_params)
            if sample_weight is not None and takes_w:
                kw["sample_weight"] = sample_weight
            s = cross_val_predict(clone(base), X, y_enc, cv=cv, method=response, fit_params=kw)
            est.fit(X, y_enc, **kw)
            s = _scores_from(s, response, n_classes, self.method)
            cal = _fit_calibrator(self.method, s, y_enc, sample_weight)
            self.calibrated_classifiers_.append(_Fold(est, cal, np.arange(n_classes), self.method, response))
        first = self.calibrated_classifiers_[0].estimator
        if hasattr(first, "n_features_in_"):
            self.n_features_in_ = first.n_features_in_
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        return self

    def _fold(self, est, X, y_enc, w, n_classes, prefit_classes):
        response = _response(est)
        classes = np.asarray(prefit_classes)
        s = _scores(est, response, X, n_classes, self.method)
        if len(classes) != n_classes:
            s = _widen(s, classes, n_classes, response)
        cal = _fit_calibrator(self.method, s, y_enc, w)
        self.calibrated_classifiers_.append(_Fold(est, cal, classes, self.method, response))

    def predict_proba(self, X):
        """Calibrated probabilities (float64, (n, n_classes)), averaged over
        the folds' calibrated classifiers."""
        check_is_fitted(self)
        n_classes = len(self.classes_)
        mean = None
        for f in self.calibrated_classifiers_:
            s = _scores(f.estimator, f.response, X, n_classes, self.method)
            if len(f.classes) != n_classes:
                s = _widen(s, f.classes, n_classes, f.response)
            p = _proba(f.calibrator, s, n_classes)
            mean = p if mean is None else mean + p
        return mean / len(self.calibrated_classifiers_)

    def predict(self, X):
        """The class of highest calibrated probability (first on ties)."""
        p = self.predict_proba(X)
        return self.classes_[np.argmax(p, axis=1)]

    def _more_tags(self):
        return {"_xfail_checks": {
            "check_sample_weights_invariance":
                "zero sample weights versus removed rows: the default LinearSVC is fitted with the weights "
                "but CV folds differ once rows are removed (as scikit-learn's own CalibratedClassifierCV)",
            "check_fit2d_1feature":
                "its 10 rows in 5 folds leave calibration folds whose labels are all one class: libcalib refuses "
                "them (CalibError CALIB_E_ONECLASS) where scikit-learn fits a degenerate sigmoid",
        }}


def _take(X, idx):
    return _safe_indexing(X, idx)


def _scores_from(s, response, n_classes, method):
    """decision_function scores as they are; predict_proba's positive column
    (binary), or for a whole-matrix method its log-probabilities."""
    s = np.asarray(s, np.float64)
    if response == "predict_proba":
        s = s[:, 1] if n_classes == 2 else s
        if _ALIASES.get(method, method) not in _OVR:     # a whole-matrix method: log-probabilities
            s = np.log(np.clip(s, 1e-12, 1.0)) if s.ndim == 2 else np.log(np.clip(s, 1e-12, 1)) - np.log(
                np.clip(1 - s, 1e-12, 1))
    elif s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    return np.ascontiguousarray(s, np.float32)


def _widen(s, classes, n_classes, response):
    """A fold's estimator saw only some classes: its columns go to those
    classes; the others get a score no calibrator ranks high."""
    full = np.full((s.shape[0], n_classes), -1e4 if response == "decision_function" else 0.0, np.float32)
    if s.ndim == 1:
        full[:, classes[1]] = s
    else:
        full[:, classes] = s
    return full

