"""Calibrate a scikit-learn classifier's decision_function with libcalib.

A LinearSVC has no predict_proba: its decision_function scores are margins,
not probabilities. Here libcalib turns them into calibrated probabilities:
temperature scaling and Platt scaling (and isotonic regression, when the
library has them), fitted on a held-out calibration split, compared on a test
split with scikit-learn's own CalibratedClassifierCV(method="sigmoid") as a
yardstick. Two problems: a binary one (make_classification, one score per
row, k = 1) and a multiclass one (the digits toy set, 10 columns of scores).

    PYTHONPATH=python /usr/bin/python3 examples/python/sklearn_decision_function.py
"""
import os
import sys
import warnings

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

try:
    import calib
except ImportError:                                   # run from a checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "python"))
    import calib

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def report(name, probs, y):
    probs = np.asarray(probs, np.float32)
    print("  %-34s acc %.4f  NLL %6.4f  Brier %.4f  ECE-15 %.4f" % (
        name, calib.accuracy(probs, y), calib.nll(probs, y), calib.brier(probs, y), calib.ece(probs, y, bins=15)))


def run(title, X, y):
    X_tr, X_rest, y_tr, y_rest = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    X_cal, X_te, y_cal, y_te = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest)
    svm = make_pipeline(StandardScaler(), LinearSVC(C=1.0, dual=False, random_state=0)).fit(X_tr, y_tr)
    s_cal = svm.decision_function(X_cal).astype(np.float32)  # (n,) for binary, (n, k) for multiclass
    s_te = svm.decision_function(X_te).astype(np.float32)
    print("%s: train %d, calibrate %d, test %d rows; scores of shape %s" % (
        title, len(y_tr), len(y_cal), len(y_te), s_te.shape))

    # the naive reading of raw margins as logits: sigmoid / softmax of the scores
    report("raw scores as logits", calib.sigmoid(s_te) if s_te.ndim == 1 else calib.softmax(s_te), y_te)

    ts = calib.TemperatureScaling().fit(s_cal, y_cal)
    report("libcalib temperature (T = %.3f)" % ts.temperature_, ts.predict_proba(s_te), y_te)
    if calib.PlattScaling.available():             # one (A, B) per class on its own score column
        m = calib.PlattScaling().fit(s_cal, y_cal)
        report("libcalib PlattScaling", m.predict_proba(s_te), y_te)
    if calib.IsotonicCalibration.available():      # input="scores": each class on its raw column, as sklearn
        m = calib.IsotonicCalibration(input="scores").fit(s_cal, y_cal)
        report("libcalib IsotonicCalibration", m.predict_proba(s_te), y_te)

    # scikit-learn's own sigmoid calibration on the same split, for comparison
    sk = CalibratedClassifierCV(svm, method="sigmoid", cv="prefit").fit(X_cal, y_cal)
    p = sk.predict_proba(X_te)
    report("sklearn CalibratedClassifierCV", p[:, 1] if s_te.ndim == 1 else p, y_te)
    print()


def main():
    print("libcalib %s via %s\n" % (calib.library_version, calib.library_path))
    X, y = make_classification(n_samples=40000, n_features=20, n_informative=6, n_redundant=4, flip_y=0.08,
                               class_sep=0.8, random_state=1)
    run("binary, make_classification", X, y)
    digits = load_digits()
    run("10 classes, digits", digits.data, digits.target)


if __name__ == "__main__":
    main()
