"""Calibrate the dataset shipped with libcalib and print a before/after table.

DenseNet-40 on CIFAR-10 (logits by M. Kängsepp, MIT licence; see
data/cifar10_densenet40_markus93/meta.json): every method of the loaded
library is fitted on the validation split (5000 rows) and measured on the test
split (10000 rows). Run from the repository root after `make`:

    PYTHONPATH=python /usr/bin/python3 examples/python/calibrate_shipped.py
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
try:
    import calib
except ImportError:                                   # run from a checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(REPO, "python"))
    import calib

DATA = os.path.join(REPO, "data", "cifar10_densenet40_markus93")


def split(name):
    d = os.path.join(DATA, name)
    return np.load(os.path.join(d, "logits.npy")), np.load(os.path.join(d, "labels.npy"))


def row(name, probs, y):
    return "%-32s %7.2f %8.4f %8.4f %8.4f %8.4f" % (
        name, 100 * calib.accuracy(probs, y), calib.nll(probs, y), calib.brier(probs, y),
        calib.ece(probs, y, bins=15), calib.mce(probs, y, bins=15))


def main():
    (zv, yv), (zt, yt) = split("val"), split("test")
    print("cifar10_densenet40_markus93: fit on val (%d rows), measured on test (%d rows, k = %d)"
          % (len(yv), len(yt), zt.shape[1]))
    print("libcalib %s (%s), isa %s" % (calib.library_version, calib.library_path, calib.isa()))
    print()
    print("%-32s %7s %8s %8s %8s %8s" % ("map", "acc %", "NLL", "Brier", "ECE-15", "MCE-15"))
    print(row("none (softmax of the logits)", calib.softmax(zt), yt))
    for name, cls in calib.ESTIMATORS.items():
        if not cls.available():
            continue
        est = cls().fit(zv, yv)
        label = cls.__name__
        if name == "temperature":
            label += " (T = %.4f)" % est.temperature_
        print(row(label, est.predict_proba(zt), yt))
    missing = [c.__name__ for c in calib.ESTIMATORS.values() if not c.available()]
    if missing:
        print("\nnot in this build of the library: %s" % ", ".join(missing))
    print("\npublished (Kull et al. 2019, test set): ECE 0.0550 -> 0.0095, NLL 0.4301 -> 0.2251 "
          "(exact NLL; 0.4282 with scikit-learn's clipping), T = 2.883")


if __name__ == "__main__":
    main()
