"""calib.sklearn.CalibratedClassifier against scikit-learn's own
CalibratedClassifierCV on the same folds (sigmoid and isotonic, binary and
multiclass, decision_function and predict_proba, ensemble True/False,
prefit), and scikit-learn's check_estimator on the wrapper and on every
calibrator: each check passes, or is an expected failure listed with its
reason in the estimator's tags (and python/README.md). Issue 13, part 1."""
import os
import sys
import unittest
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datagate  # noqa: E402

from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402
from unittest import SkipTest  # noqa: E402

import calib  # noqa: E402
from calib.sklearn import CalibratedClassifier  # noqa: E402


class F32(ClassifierMixin, BaseEstimator):
    """An estimator whose scores are rounded to float32: libcalib takes float32
    scores, so both sides then calibrate identical numbers."""

    def __init__(self, est=None):
        self.est = est

    def fit(self, X, y, sample_weight=None):
        self.est_ = clone(self.est).fit(X, y) if sample_weight is None else clone(self.est).fit(X, y, sample_weight)
        self.classes_ = self.est_.classes_
        return self

    def predict(self, X):
        return self.est_.predict(X)


class F32Decision(F32):
    def decision_function(self, X):
        return self.est_.decision_function(X).astype(np.float32).astype(np.float64)


class F32Proba(F32):
    def predict_proba(self, X):
        return self.est_.predict_proba(X).astype(np.float32).astype(np.float64)


class TestAgreement(unittest.TestCase):
    def test_same_as_calibratedclassifiercv(self):
        warnings.filterwarnings("ignore")
        worst = {}
        for nc in (2, 4):
            X, y = make_classification(1500, 12, n_informative=7, n_classes=nc, random_state=nc)
            Xt, _ = make_classification(600, 12, n_informative=7, n_classes=nc, random_state=10 + nc)
            y = np.array(["c%d" % v for v in y])                  # string labels: classes_ mapping
            for base in (F32Decision(LinearSVC(dual=False, random_state=0)), F32Proba(GaussianNB())):
                for method in ("sigmoid", "isotonic"):
                    for cv, ens in ((StratifiedKFold(3), True), (StratifiedKFold(4), False), ("prefit", True)):
                        b = clone(base).fit(X, y) if cv == "prefit" else base
                        ref = CalibratedClassifierCV(b, method=method, cv=cv, ensemble=ens).fit(X, y)
                        got = CalibratedClassifier(b, method=method, cv=cv, ensemble=ens).fit(X, y)
                        np.testing.assert_array_equal(got.classes_, ref.classes_)
                        d = float(np.max(np.abs(got.predict_proba(Xt) - ref.predict_proba(Xt))))
                        key = (method, nc)
                        worst[key] = max(worst.get(key, 0.0), d)
                        self.assertLess(d, 1e-6, (nc, type(base).__name__, method, cv, ens))
                        self.assertGreater(np.mean(got.predict(Xt) == ref.predict(Xt)), 0.995)
        for (method, nc), d in sorted(worst.items()):
            print("CalibratedClassifierCV agreement: %-8s %d classes: max |p - p_sklearn| = %.1e" % (method, nc, d))

    def test_weights_score_and_other_methods(self):
        X, y = make_classification(800, 8, n_classes=3, n_informative=5, random_state=3)
        w = np.random.default_rng(0).uniform(0.5, 2, len(y))
        for method in ("temperature", "platt", "isotonic", "beta", "histogram"):
            clf = CalibratedClassifier(LogisticRegression(max_iter=1000), method=method, cv=3).fit(X, y, w)
            p = clf.predict_proba(X)
            np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
            self.assertGreater(clf.score(X, y), 0.5)
        self.assertTrue(is_classifier(CalibratedClassifier()))
        self.assertTrue(is_classifier(calib.TemperatureScaling()))
        s = cross_val_score(CalibratedClassifier(LogisticRegression(max_iter=1000), cv=3), X, y, cv=3)
        self.assertEqual(len(s), 3)

    def test_calibrator_score_params(self):
        z = np.random.default_rng(1).standard_normal((500, 3)).astype(np.float32) * 3
        y = np.argmax(z + np.random.default_rng(2).standard_normal((500, 3)), axis=1)
        ts = calib.TemperatureScaling()
        self.assertFalse(ts.__sklearn_is_fitted__())
        ts.fit(z, y)
        self.assertTrue(ts.__sklearn_is_fitted__())
        self.assertAlmostEqual(ts.score(z, y), -calib.nll(ts.predict_proba(z), y), places=5)
        for cls in calib.ESTIMATORS.values():
            est = cls()
            self.assertEqual(set(est.get_params()), set(cls._options))
            self.assertEqual(clone(est).get_params(), est.get_params())


def run_checks(est):
    """check_estimator, check by check: (passed, expected failures {name: reason}, failures)."""
    passed, xfail, failed = 0, {}, []
    for e, check in check_estimator(est, generate_only=True):
        name = getattr(check, "func", check).__name__
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                check(e)
            passed += 1
        except SkipTest as s:
            xfail[str(s).split(" for ")[0].replace("Skipping ", "")] = str(s).split(": ", 1)[-1]
        except Exception as ex:                                # noqa: BLE001
            failed.append("%s: %s: %s" % (name, type(ex).__name__, str(ex).splitlines()[0][:200] if str(ex) else ""))
    return passed, xfail, failed


class TestCheckEstimator(unittest.TestCase):
    def test_wrapper(self):
        passed, xfail, failed = run_checks(CalibratedClassifier())
        print("check_estimator(CalibratedClassifier()): %d passed, %d expected failures (%s), %d failed"
              % (passed, len(xfail), ", ".join(sorted(xfail)), len(failed)))
        self.assertEqual(failed, [])
        self.assertGreater(passed, 30)

    def test_calibrators(self):
        for cls in calib.ESTIMATORS.values():
            if not cls.available():
                print("skipped part: check_estimator(%s): not in this build" % cls.__name__)
                continue
            passed, xfail, failed = run_checks(cls())
            print("check_estimator(%s()): %d passed, %d expected failures (listed with reasons), %d failed"
                  % (cls.__name__, passed, len(xfail), len(failed)))
            self.assertEqual(failed, [], cls.__name__)
            listed = cls()._more_tags()["_xfail_checks"]
            self.assertTrue(set(xfail) <= set(listed))
            self.assertGreater(passed, 5)


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=1).run(unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules[__name__]))
    sys.exit(datagate.finish(result))
