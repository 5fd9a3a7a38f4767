"""Calibration metrics as plain functions.

probs: float32 probabilities, (n, k) rows, or a 1-D array of P(y = 1) for a
binary problem (k = 1); float32 C-contiguous input is read without a copy,
anything else is converted once to float32 (so float64 probabilities are
measured as their float32 values). y: n class indices (int64 without a copy).
Every value is accumulated in double by the library and returned as a float.
Bad input raises CalibError: NaN/inf (CALIB_E_NONFINITE), a probability
outside [0, 1] (CALIB_E_DOMAIN), a label out of range (CALIB_E_LABEL), no rows
(CALIB_E_EMPTY), bins < 1 (CALIB_E_ARG).
"""
import ctypes
import numbers

import numpy as np

from . import _arrays, _ids, _lib, _typed
from ._lib import CalibError, check, fn

__all__ = ["accuracy", "nll", "nll_logits", "brier", "ece", "mce", "bin_index", "calibration_error",
           "debiased_l2_ce", "ks_error", "mmce", "kde_ece", "smooth_ece", "brier_score", "reliability",
           "suite", "tao2024", "Accumulator"]


# CALIB_MAX_BINS of calib.h: the largest bin count of the metrics on data. The
# library checks the range itself; the binding only needs it to size no
# reliability buffer for a bin count the library will refuse anyway.
_MAX_BINS = 1 << 24


def _bins(bins):
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 0 or bins >= 1 << 64:
        raise CalibError(_ids.E_ARG, "bins must be an integer in 1..%d; got %r" % (_MAX_BINS, bins))
    return int(bins)


def _scalar(cname, probs, y, *extra, what="probs"):
    p, n, k, yy = _arrays.scored(probs, y, what)
    out = ctypes.c_double()
    check(fn(cname)(_arrays.addr(p), n, k, _arrays.addr(yy), *extra, ctypes.byref(out)),
          "%s on %d x %d %s" % (cname[6:], n, k, what))
    return out.value


def accuracy(probs, y):
    """Mean of 1[argmax_j p_ij == y_i] (first index on ties; binary: p > 0.5)."""
    return _scalar("calib_accuracy", probs, y)


def nll(probs, y):
    """Mean negative log-likelihood -(1/n) sum ln p_{i,y_i}; exact (no clipping):
    a true-class probability of exactly 0 gives inf."""
    return _scalar("calib_nll", probs, y)


def nll_logits(logits, y):
    """Mean NLL of softmax(logits) (binary: sigmoid), from the logits with
    max subtraction: exact, no clipping; -inf logits (masked classes) allowed."""
    return _scalar("calib_nll_logits", logits, y, what="logits")


def brier(probs, y):
    """Brier score (1/n) sum_i sum_j (p_ij - 1[y_i = j])^2, in [0, 2]
    (scikit-learn's multiclass form); binary 1-D input: mean (p - y)^2."""
    return _scalar("calib_brier", probs, y)


def ece(probs, y, bins=15):
    """Top-label expected calibration error with `bins` equal-width bins
    (b/M, (b+1)/M], 0 in the first (Guo et al. 2017; Naeini et al. 2015)."""
    return _scalar("calib_ece", probs, y, _bins(bins))


def mce(probs, y, bins=15):
    """Top-label maximum calibration error over the non-empty equal-width bins."""
    return _scalar("calib_mce", probs, y, _bins(bins))


def bin_index(confidence, bins):
    """The equal-width bin (0..bins-1) of a confidence, as every binned measure
    and histogram binning use it."""
    b = _bins(bins)
    if b == 0:
        raise CalibError(_ids.E_ARG, "bins must be >= 1")
    return int(fn("calib_bin_index")(float(confidence), b))


# ---- the metrics suite: scopes, binnings, norms, estimators ----------------------------
def _choice(table, value, what):
    try:
        return table[value]
    except (KeyError, TypeError):
        raise CalibError(_ids.E_ARG, "%s=%r: choose one of %s" % (what, value, ", ".join(map(repr, table)))) from None


def calibration_error(probs, y, bins=15, scope="top_label", binning="equal_width", norm="l1"):
    """Binned calibration error (calib_calibration_error).
    scope: "top_label" (confidence vs correctness), "classwise" (mean over all
    k classes of each class's error; L2: root mean square; max: maximum) or
    "positive_class" (k <= 2). binning: "equal_width" ((b/M, (b+1)/M], 0 in
    bin 0), "equal_width_left_closed" (netcal), "equal_mass_kumar" (Kumar et
    al. 2019) or "equal_mass_index" (Nixon et al. 2019). norm: "l1" (ECE),
    "l2" (RMS calibration error) or "max" (MCE)."""
    return _scalar("calib_calibration_error", probs, y, _bins(bins), _choice(_ids.SCOPE, scope, "scope"),
                   _choice(_ids.BINNING, binning, "binning"), _choice(_ids.NORM, norm, "norm"))


def debiased_l2_ce(probs, y, bins=15, scope="top_label", binning="equal_mass_kumar"):
    """Kumar, Liang & Ma (2019) debiased l2 calibration error (their default
    equal-mass bins); classwise: root mean square over classes."""
    return _scalar("calib_debiased_l2_ce", probs, y, _bins(bins), _choice(_ids.SCOPE, scope, "scope"),
                   _choice(_ids.BINNING, binning, "binning"))


def ks_error(probs, y, scope="top_label"):
    """Kolmogorov-Smirnov calibration error (Gupta et al. 2021), ties together."""
    return _scalar("calib_ks_error", probs, y, _choice(_ids.SCOPE, scope, "scope"))


def mmce(probs, y, scope="top_label", width=_ids.MMCE_WIDTH):
    """Maximum mean calibration error (Kumar, Sarawagi & Jain 2018), Laplacian
    kernel of the given width (0.4, the paper's), exact in O(n log n)."""
    return _scalar("calib_mmce", probs, y, _choice(_ids.SCOPE, scope, "scope"), float(width))


def kde_ece(probs, y, scope="top_label"):
    """KDE-based ECE of Zhang, Kailkhura & Han (2020) (Tao et al.'s KDECE)."""
    return _scalar("calib_kde_ece", probs, y, _choice(_ids.SCOPE, scope, "scope"))


def smooth_ece(probs, y, scope="top_label", sigma=None, return_sigma=False):
    """Smooth ECE (Blasiok & Nakkiran 2024). sigma=None: the automatic
    bandwidth (fixed point); a number in [0.001, 1]: that bandwidth (anything
    else raises CalibError: the evaluation grid needs ~64/sigma nodes).
    return_sigma=True returns (value, sigma used)."""
    p, n, k, yy = _arrays.scored(probs, y, "probs")
    out, used = ctypes.c_double(), ctypes.c_double()
    check(fn("calib_smooth_ece")(_arrays.addr(p), n, k, _arrays.addr(yy), _choice(_ids.SCOPE, scope, "scope"),
                                 0.0 if sigma is None else float(sigma), ctypes.byref(out), ctypes.byref(used)),
          "smooth_ece on %d x %d probs" % (n, k))
    return (out.value, used.value) if return_sigma else out.value


def brier_score(probs, y, scaling="sum"):
    """Brier score in a named scaling: "sum" (sum over classes, in [0, 2]),
    "mean_k" (the same / k, Tao et al.), "positive" (binary, in [0, 1]) or
    "top_label" ((confidence - correct)^2)."""
    return _scalar("calib_brier_score", probs, y, _choice(_ids.BRIER, scaling, "scaling"))


def _rd_dict(buf, nb):
    table = buf[:nb * len(_ids.RD_FIELDS)].reshape(nb, len(_ids.RD_FIELDS))
    out = {name: table[:, i].copy() for i, name in enumerate(_ids.RD_FIELDS)}
    out["count"] = out["count"].astype(np.int64)
    return out


def reliability(probs, y, bins=15, scope="top_label", binning="equal_width", z=1.959963984540054):
    """Reliability-diagram data per bin, as a dict of arrays: lo, hi (edges),
    count, conf (mean confidence), acc (accuracy / positive rate), wilson_lo,
    wilson_hi (Wilson interval at z; 95 % by default). Empty equal-width bins
    have count 0 and NaN elsewhere. scope: "top_label" or "positive_class"."""
    p, n, k, yy = _arrays.scored(probs, y, "probs")
    b = _bins(bins)
    cap = b * len(_ids.RD_FIELDS) if 1 <= b <= _MAX_BINS else 0  # 0: the library says CALIB_E_ARG
    buf = np.empty(max(cap, 1), _arrays.F64)
    nb = ctypes.c_size_t()
    check(fn("calib_reliability")(_arrays.addr(p), n, k, _arrays.addr(yy), b, _choice(_ids.SCOPE, scope, "scope"),
                                  _choice(_ids.BINNING, binning, "binning"), float(z), _arrays.addr(buf), cap,
                                  ctypes.byref(nb)), "reliability on %d x %d probs" % (n, k))
    return _rd_dict(buf, nb.value)


def suite(name, x, y, input="logits", strict=False):
    """Every measure of a benchmark suite (calib_suite_eval) as a dict, in the
    suite's key order. input: "logits" (probabilities are the float64 softmax
    of x, NLL exact from the logits) or "probs". A measure undefined on the
    data (e.g. kde_ece with no correct prediction) is None, or raises with
    strict=True."""
    sid = _choice(_ids.SUITES, name, "suite")
    size = fn("calib_suite_size")(sid)
    keys = [fn("calib_suite_key")(sid, i).decode() for i in range(size)]
    a, n, k, yy = _arrays.scored(x, y, input)
    out = np.empty(size, _arrays.F64)
    status = None if strict else np.zeros(size, np.intc)
    check(fn("calib_suite_eval")(sid, _arrays.addr(a), n, k, _arrays.addr(yy), _choice(_ids.INPUT, input, "input"),
                                 _arrays.addr(out), _arrays.nullable_addr(status), size),
          "suite %r on %d x %d %s" % (name, n, k, input))
    return {key: (float(out[i]) if status is None or status[i] == 0 else None) for i, key in enumerate(keys)}


def tao2024(x, y, input="logits", strict=False):
    """The measures of Tao et al., "A Benchmark Study on Calibration" (ICLR
    2024) as a dict: ece_ew_B, ece_em_B, cwece_ew_B, cwece_em_B, mce_B for
    B in 5, 10, 15, 20, 25, 50, 100, 200, 500, then ks, kde_ece, mmce, nll,
    brier_k. See suite()."""
    return suite("tao2024", x, y, input=input, strict=strict)


# ---- streaming ---------------------------------------------------------------------------
class Accumulator:
    """Streaming fixed-bin calibration measures (calib_accumulator_*): add
    batches, merge accumulators of other shards, read any measure at any time,
    save the state as bytes (pickling uses them).

        acc = calib.Accumulator(k=10, bins=15)
        for probs, y in batches: acc.add(probs, y)
        acc.value("ece"), acc.values()

    binning: "equal_width" or "equal_width_left_closed". Measures: see
    Accumulator.MEASURES ("count", "accuracy", "nll", "brier", "ece", ...).
    Not thread-safe: one accumulator per thread, merge afterwards."""

    MEASURES = tuple(_ids.ACC_MEASURES)

    def __init__(self, k, bins=15, binning="equal_width"):
        ptr = ctypes.c_void_p()
        check(fn("calib_accumulator_create")(ctypes.byref(ptr), int(k), _bins(bins),
                                             _choice(_ids.BINNING, binning, "binning")),
              "Accumulator(k=%r, bins=%r, binning=%r)" % (k, bins, binning))
        self._ptr = ptr.value
        self.k, self.bins, self.binning = int(k), int(bins), binning

    def __del__(self, _free=_lib.FN.get("calib_accumulator_free")):
        ptr = getattr(self, "_ptr", None)
        if ptr and _free is not None:
            _free(ptr)
            self._ptr = None

    def _add(self, cname, x, y, what):
        a, n, k, yy = _arrays.scored(x, y, what)
        if k != self.k:
            raise CalibError(_ids.E_SHAPE, "Accumulator for k = %d given %d columns" % (self.k, k))
        check(fn(cname)(self._ptr, _arrays.addr(a), n, _arrays.addr(yy)), "Accumulator.add (%d rows)" % n)
        return self

    def add(self, probs, y):
        """Add a batch of probabilities and labels; on error nothing is added."""
        return self._add("calib_accumulator_add", probs, y, "probs")

    def add_logits(self, logits, y, *, scale=None, zero_point=None):
        """Add a batch of logits (softmax/sigmoid in double; exact NLL).
        Typed logits (calib_accumulator_add_logits_typed, read in place):
        float16, bfloat16, int8/uint8 with scale= and zero_point= (as in
        Calibrator.fit): the same state as adding the dequantized logits."""
        t = _typed.typed(logits, scale, zero_point)
        if t is None:
            return self._add("calib_accumulator_add_logits", logits, y, "logits")
        if t.k != self.k:
            raise CalibError(_ids.E_SHAPE, "Accumulator for k = %d given %d columns" % (self.k, t.k))
        yy = _arrays.labels(y, t.n)
        check(fn("calib_accumulator_add_logits_typed")(self._ptr, t.ptr, t.n, _arrays.addr(yy)),
              "Accumulator.add_logits (%d typed rows)" % t.n)
        return self

    @staticmethod
    def add_logits_many(accs, logits, y):
        """Accumulator.add_logits(logits, y) on every accumulator of accs (same
        k; bins and binning may differ) with one softmax per row and one
        validation (calib_accumulator_add_logits_many): bit-identical to
        separate calls; on error none changes. Returns accs."""
        accs = list(accs)
        if not accs:
            raise CalibError(_ids.E_ARG, "Accumulator.add_logits_many: no accumulators")
        a, n, k, yy = _arrays.scored(logits, y, "logits")
        for acc in accs:
            if k != acc.k:
                raise CalibError(_ids.E_SHAPE, "Accumulator for k = %d given %d columns" % (acc.k, k))
        ptrs = (ctypes.c_void_p * len(accs))(*[acc._ptr for acc in accs])
        check(fn("calib_accumulator_add_logits_many")(ptrs, len(accs), _arrays.addr(a), n, _arrays.addr(yy)),
              "Accumulator.add_logits_many (%d accumulators, %d rows)" % (len(accs), n))
        return accs

    def merge(self, other):
        """self += other (same k, bins and binning)."""
        check(fn("calib_accumulator_merge")(self._ptr, other._ptr), "Accumulator.merge")
        return self

    def value(self, measure):
        """One measure of everything added so far."""
        out = ctypes.c_double()
        check(fn("calib_accumulator_value")(self._ptr, _choice(_ids.ACC_MEASURES, measure, "measure"),
                                            ctypes.byref(out)), "Accumulator.value(%r)" % (measure,))
        return out.value

    def values(self):
        """Every measure defined for this accumulator, as a dict."""
        out = {}
        for m in self.MEASURES:
            try:
                out[m] = self.value(m)
            except CalibError:
                pass
        return out

    def reliability(self, scope="top_label", z=1.959963984540054):
        """reliability() of everything added (the accumulator's bins)."""
        cap = self.bins * len(_ids.RD_FIELDS)
        buf = np.empty(cap, _arrays.F64)
        nb = ctypes.c_size_t()
        check(fn("calib_accumulator_reliability")(self._ptr, _choice(_ids.SCOPE, scope, "scope"), float(z),
                                                  _arrays.addr(buf), cap, ctypes.byref(nb)),
              "Accumulator.reliability")
        return _rd_dict(buf, nb.value)

    def to_bytes(self):
        size = fn("calib_accumulator_size")(self._ptr)
        buf = bytearray(size)
        written = ctypes.c_size_t()
        check(fn("calib_accumulator_save")(self._ptr, (ctypes.c_char * size).from_buffer(buf), size,
                                           ctypes.byref(written)), "Accumulator.to_bytes")
        return bytes(buf[:written.value])

    @classmethod
    def from_bytes(cls, data, k, bins, binning="equal_width"):
        """An accumulator from to_bytes() output. k, bins and binning must be
        the ones it was created with: they are checked by merging the loaded
        state into an empty accumulator of that shape (CALIB_E_SHAPE for
        another k, CALIB_E_ARG for other bins or binning)."""
        data = bytes(data)
        ptr = ctypes.c_void_p()
        check(fn("calib_accumulator_load")(ctypes.byref(ptr), data, len(data)),
              "Accumulator.from_bytes (%d bytes)" % len(data))
        acc = cls.__new__(cls)
        acc._ptr = ptr.value
        acc.k, acc.bins, acc.binning = int(k), int(bins), binning
        probe = cls(k, bins, binning)
        check(fn("calib_accumulator_merge")(probe._ptr, acc._ptr),
              "Accumulator.from_bytes: the bytes are not of an Accumulator(k=%r, bins=%r, binning=%r)"
              % (k, bins, binning))
        return acc

    def __reduce__(self):
        return (Accumulator.from_bytes, (self.to_bytes(), self.k, self.bins, self.binning))

    def __repr__(self):
        return "Accumulator(k=%d, bins=%d, binning=%r)" % (self.k, self.bins, self.binning)
