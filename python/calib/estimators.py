"""scikit-learn-style calibrators, one small class per libcalib method.

Every class shares the Calibrator base:

    fit(logits, y, sample_weight=None) -> self
    predict_proba(logits, out=None)    -> float32 probabilities, same shape as logits
    predict(logits)                    -> int64 class indices
    get_params() / set_params(**kw)    -> the options (None = the library's default)
    save(path) / Cls.load(path)        -> the library's versioned model file
    to_bytes() / Cls.from_bytes(b)     -> the same bytes in memory; pickling uses them

Scores are float32 (n, k) logits, or a 1-D array of n log-odds for a binary
problem (k = 1, whose probabilities are P(y = 1), one per row, in the input's
shape: not scikit-learn's two columns). Labels are class indices 0..k-1 (0/1
for k = 1). Options map to calib_fitter_set(); None leaves the library's
default, whose value and range calib.param_bounds(method, option) gives.
"""
import ctypes
import inspect
import os

import numpy as np

from . import _arrays, _ids, _lib, _typed
from ._lib import CalibError, NotFittedError, check, fn

_REGISTRY = {}


def _call_detailed(name, args, where):
    """Calls the C function `name` through its `<name>_ex` twin when the library
    has one, so a failure raises CalibError with the library's detail (which
    check failed, the errno text); otherwise through `name` itself."""
    ex = _lib.FN.get(name + "_ex")
    if ex is None:
        check(fn(name)(*args), where)
        return
    err = _lib.Error()
    st = ex(*args, ctypes.byref(err))
    why = err.describe() if st < 0 else None
    check(st, "%s: %s" % (where, why) if why else where)


def _fit_error(f):
    """The library's detail of f's failed fit (calib_fitter_error), or None."""
    get = _lib.FN.get("calib_fitter_error")
    err = _lib.Error()
    if get is None or get(f, ctypes.byref(err)) != 0:
        return None
    return err.describe()


def _new_fitter(method):
    f = ctypes.c_void_p()
    check(fn("calib_fitter_create")(ctypes.byref(f), _ids.METHODS[method]),
          "method %r in libcalib %s (%s)" % (method, _lib.LIBRARY_VERSION, _lib.LIBRARY_PATH))
    return f


def method_available(method):
    """True if this build of the library can fit `method` ("temperature", ...)."""
    try:
        f = _new_fitter(method)
    except CalibError:
        return False
    fn("calib_fitter_free")(f)
    return True


def param_bounds(method, option):
    """(lo, hi, default) of an option of a method, from calib_param_bounds()."""
    lo, hi, de = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    if option not in _ids.OPTIONS:
        raise CalibError(_ids.E_ARG, "unknown option %r" % (option,))
    check(fn("calib_param_bounds")(_ids.METHODS[method], _ids.OPTIONS[option], ctypes.byref(lo),
                                   ctypes.byref(hi), ctypes.byref(de)),
          "option %r of method %r" % (option, method))
    return lo.value, hi.value, de.value


class _Model:
    """Owns one calib_model pointer; frees it when the last reference goes."""
    __slots__ = ("ptr", "k", "method")

    def __init__(self, ptr):
        self.ptr = ptr
        self.k = fn("calib_model_classes")(ptr)
        self.method = fn("calib_model_method")(ptr)

    def __del__(self, _free=_lib.FN["calib_model_free"]):
        if self.ptr:
            _free(self.ptr)
            self.ptr = None


def _tag_bytes(where, tag):
    """A model tag as the library takes it: None, or UTF-8 bytes of at most 255."""
    if tag is None or tag == "":
        return None
    if not isinstance(tag, str):
        raise CalibError(_ids.E_ARG, "%s: tag must be a str, not %s" % (where, type(tag).__name__))
    b = tag.encode("utf-8")
    if len(b) > 255 or b"\0" in b:
        raise CalibError(_ids.E_ARG, "%s: tag must be at most 255 UTF-8 bytes without NUL (got %d bytes)"
                         % (where, len(b)))
    return b


def _option_value(cls, name, value):
    choices = _ids.OPTION_CHOICES.get(name)
    if choices is not None and isinstance(value, str):
        if value not in choices:
            raise CalibError(_ids.E_ARG, "%s(%s=%r): choose one of %s"
                             % (cls.__name__, name, value, ", ".join(map(repr, choices))))
        return float(choices[value])
    if isinstance(value, (bool, np.bool_)):
        return 1.0 if value else 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CalibError(_ids.E_ARG, "%s(%s=%r): not a number" % (cls.__name__, name, value)) from None


def _fitted_property(attr, compute):
    def get(self):
        self._require_model(attr)
        return compute(self)
    return property(get, doc="fitted attribute (from calib_model_param)")


class Calibrator:
    """Base class of every calibrator; see the module documentation."""

    method = None    # the library's method name, e.g. "temperature"
    _estimator_type = "classifier"   # scikit-learn's is_classifier(): predict_proba, score, classes_
    _options = ()    # option keywords: the subclass's __init__ parameters
    _fitted = {}     # fitted attribute -> function(estimator) computing it from the model arrays

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        for name in names:
            if name not in _ids.OPTIONS:
                raise TypeError("%s: option %r has no id in calib._ids.OPTIONS" % (cls.__name__, name))
        cls._options = tuple(names)
        for attr, compute in cls._fitted.items():
            setattr(cls, attr, _fitted_property(attr, compute))
        if cls.method is not None:
            _REGISTRY[cls.method] = cls

    def __init__(self, **options):
        for name in self._options:
            setattr(self, name, options.get(name))
        self._model = None

    # ---- parameters (scikit-learn protocol) -----------------------------------
    def get_params(self, deep=True):
        """The options as given (None: the library's default)."""
        return {name: getattr(self, name) for name in self._options}

    def set_params(self, **params):
        """Set options by keyword; returns self. Unknown keywords: CalibError."""
        for name in params:
            if name not in self._options:
                raise CalibError(_ids.E_ARG, "%s has no option %r (options: %s)"
                                 % (type(self).__name__, name, ", ".join(self._options) or "none"))
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self):
        given = ", ".join("%s=%r" % kv for kv in self.get_params().items() if kv[1] is not None)
        return "%s(%s)" % (type(self).__name__, given)

    @classmethod
    def available(cls):
        """True if the loaded library can fit this method."""
        return cls.method is not None and method_available(cls.method)

    # ---- fit ---------------------------------------------------------------
    def _configure(self, f):
        for name in self._options:
            value = getattr(self, name)
            if value is None:
                continue
            v = _option_value(type(self), name, value)
            if fn("calib_fitter_set")(f, _ids.OPTIONS[name], v) < 0:
                try:
                    lo, hi, _ = param_bounds(self.method, name)
                    rng = "outside the accepted range [%r, %r]" % (lo, hi)
                except CalibError:
                    rng = "not an option of method %r in this library" % self.method
                raise CalibError(_ids.E_ARG, "%s(%s=%r): %s" % (type(self).__name__, name, value, rng))

    def _read_report(self, f):
        out = {}
        v = ctypes.c_double()
        for name, rid in _ids.REPORT.items():
            if fn("calib_fitter_report")(f, rid, ctypes.byref(v)) == 0:
                out[name] = v.value
        # the fit succeeded, but its optimum lies along a nearly flat direction:
        # add ODIR or L2 (calib.h, CALIB_ILL_CONDITIONED); False when not computed
        out["ill_conditioned"] = bool(out.get("condition", float("nan")) > _ids.ILL_CONDITIONED)
        return out

    def _fitter_options(self, f):
        out = {}
        v = ctypes.c_double()
        for name in self._options:
            if fn("calib_fitter_get")(f, _ids.OPTIONS[name], ctypes.byref(v)) == 0:
                out[name] = v.value
        return out

    def fit(self, logits, y, sample_weight=None, *, tag=None, provenance=True, scale=None, zero_point=None):
        """Fit the map on scores `logits` ((n, k) float32 logits, or n binary
        log-odds) and labels `y` (n class indices; int64 is used without a
        copy). sample_weight: None or n finite non-negative weights.
        provenance (default True): the model records its fit set (see `info`:
        the fit-time reference, NLL/ECE/Brier before and after, the time) and
        `tag` (a str of at most 255 UTF-8 bytes), and saves as model format
        version 2; provenance=False gives the version-1 model (no tag allowed).
        Typed logits (calib_fit_typed, no float32 copy made here): numpy
        float16 / int8 / uint8 arrays, ml_dtypes or torch bfloat16, torch
        float16/int8/uint8; int8/uint8 need scale= (float, or k per-class
        floats) and take zero_point= (int or k ints, default 0): the fit sees
        scale * (q - zero_point) in float32, exactly as if dequantized first.
        Raises CalibError with the library's code and message on failure;
        then the estimator keeps its previous state."""
        tag_bytes = _tag_bytes(type(self).__name__ + ".fit", tag)
        if tag_bytes and not provenance:
            raise CalibError(_ids.E_ARG, "%s.fit: tag=%r needs provenance=True" % (type(self).__name__, tag))
        t = _typed.typed(logits, scale, zero_point)
        if t is None:
            x, n, k, yy = _arrays.scored(logits, y)
        else:
            n, k = t.n, t.k
            yy = _arrays.labels(y, n)
        w = _arrays.weights(sample_weight, n)
        f = _new_fitter(self.method)
        try:
            self._configure(f)
            if _lib.FN.get("calib_fitter_set_provenance") is not None or tag_bytes or not provenance:
                check(fn("calib_fitter_set_provenance")(f, 1 if provenance else 0, tag_bytes),
                      "%s.fit(tag=%r)" % (type(self).__name__, tag))
            model = ctypes.c_void_p()
            if t is None:
                st = fn("calib_fit")(f, _arrays.addr(x), n, k, _arrays.addr(yy), _arrays.nullable_addr(w),
                                     ctypes.byref(model))
            else:
                st = fn("calib_fit_typed")(f, t.ptr, n, k, _arrays.addr(yy), _arrays.nullable_addr(w),
                                           ctypes.byref(model))
            report = self._read_report(f)
            options = self._fitter_options(f)
            why = _fit_error(f) if st < 0 else None
        finally:
            fn("calib_fitter_free")(f)
        where = "%s.fit on %d x %d scores" % (type(self).__name__, n, k)
        check(st, "%s: %s" % (where, why) if why else where)
        self._set_model(_Model(model.value))
        # fit_report_: iterations, nll_before, nll_after, gradient, status, gap
        # (estimated objective gap at the end), condition (Hessian condition
        # number; NaN where not computed), ill_conditioned (condition > 1e9)
        self.fit_report_ = report
        self.fitter_options_ = options
        if "iterations" in report:
            self.n_iter_ = int(report["iterations"])
        return self

    def _set_model(self, model):
        self._model = model
        k = model.k
        self.n_features_in_ = k
        self.classes_ = np.arange(max(k, 2))

    def _require_model(self, what):
        m = self._model
        if m is None:
            raise NotFittedError("%s.%s: this %s is not fitted yet; call fit() or load() first"
                                 % (type(self).__name__, what, type(self).__name__))
        return m

    # ---- apply ---------------------------------------------------------------
    def predict_proba(self, logits, out=None, *, scale=None, zero_point=None, out_dtype=None):
        """Calibrated probabilities (float32, the shape of `logits`; for a
        binary model P(y = 1) per row). float32 C-contiguous input is read in
        place; out= takes a preallocated float32 array of the same shape, at any
        address (a byte-misaligned one such as np.frombuffer(buf, np.float32,
        offset=1) is written directly); it may be `logits` itself, for an
        in-place call, or a float32 CPU torch tensor, written in place and
        returned (torch in, torch out). Torch tensors, DLPack and
        __array_interface__ objects are read without a copy when contiguous
        float32. The GIL is released during the C call.
        Typed logits (calib_apply_typed, read in place): float16, bfloat16,
        int8/uint8 with scale= and zero_point= (as in fit); the result equals
        predict_proba on the dequantized float32 logits. out_dtype=np.float16
        returns float16 probabilities (rounded to nearest even), for any input."""
        m = self._require_model("predict_proba")
        t = _typed.typed(logits, scale, zero_point)
        if t is not None or out_dtype is not None:
            return self._predict_typed(m, logits, t, out, scale, zero_point, out_dtype, rows=False)
        x, n, k = _arrays.scores(logits)
        p = _arrays.output(out, x.shape)
        st = _apply(m.ptr, _addr(x), n, k, _addr(p))
        if st:
            raise CalibError(st, "%s.predict_proba on %d x %d scores (model fitted with k = %d)"
                             % (type(self).__name__, n, k, m.k))
        return p if out is None else out  # out= a torch tensor: the tensor itself, written in place

    def _predict_typed(self, m, logits, t, out, scale, zero_point, out_dtype, rows):
        odt = _typed.out_dtype(out_dtype)
        if t is None:  # float32 logits with a float16 output
            t = _typed.float32(*_arrays.scores(logits))
        n, k = t.n, t.k
        p = _typed.output(out, t.shape, odt)
        name = "calib_apply_typed_rows" if rows else "calib_apply_typed"
        where = "%s.predict_proba%s on %d x %d typed scores (model fitted with k = %d)" % (
            type(self).__name__, "_rows" if rows else "", n, k, m.k)
        if not rows:
            check(fn(name)(m.ptr, t.ptr, n, k, _addr(p) if n else None, odt, 0), where)
            return p
        status = np.empty(n, np.uint8)
        st = fn(name)(m.ptr, t.ptr, n, k, _addr(p) if n else None, odt, 0, _addr(status) if n else None, None, None)
        if st and st not in (_ids.E_NONFINITE, _ids.E_DOMAIN):
            raise CalibError(st, where)
        return p, status

    def predict_proba_rows(self, logits, out=None, *, scale=None, zero_point=None, out_dtype=None):
        """Row-wise mode of predict_proba (calib_apply_rows): returns (probs,
        status). A bad row does not fail the batch: its probabilities are NaN
        and status[i] is 2 (non-finite input) or 15 (a value outside its
        domain, e.g. a probability outside [0, 1]); every other row is
        computed exactly as predict_proba computes it (status 0). status is a
        uint8 array of n. Argument errors (shape, k) raise as in
        predict_proba."""
        m = self._require_model("predict_proba_rows")
        t = _typed.typed(logits, scale, zero_point)
        if t is not None or out_dtype is not None:
            return self._predict_typed(m, logits, t, out, scale, zero_point, out_dtype, rows=True)
        x, n, k = _arrays.scores(logits)
        p = _arrays.output(out, x.shape)
        status = np.empty(n, np.uint8)
        st = fn("calib_apply_rows")(m.ptr, _addr(x), n, k, _addr(p), _addr(status) if n else None, None, None)
        if st and st not in (_ids.E_NONFINITE, _ids.E_DOMAIN):
            raise CalibError(st, "%s.predict_proba_rows on %d x %d scores (model fitted with k = %d)"
                             % (type(self).__name__, n, k, m.k))
        return (p if out is None else out), status

    def predict(self, logits, *, scale=None, zero_point=None):
        """Predicted class indices (int64): argmax of the calibrated
        probabilities (first on ties); binary: 1 where P(y = 1) > 0.5.
        Typed logits as in predict_proba (scale=, zero_point=)."""
        p = self.predict_proba(logits, scale=scale, zero_point=zero_point)
        if self._model.k == 1:
            return (p.reshape(-1) > 0.5).astype(np.int64)
        return np.argmax(p, axis=1).astype(np.int64, copy=False)

    def score(self, logits, y, sample_weight=None):
        """Negative (weighted) mean log loss of the calibrated probabilities
        (higher is better, as scikit-learn's scorers): -calib.nll on the
        predicted probabilities, with scikit-learn's two columns for k = 1."""
        p = np.asarray(self.predict_proba(logits), np.float64)
        if self._model.k == 1:
            p = np.stack([1.0 - p.reshape(-1), p.reshape(-1)], axis=1)
        yy = _arrays.labels(y, p.shape[0])
        if yy.size and (yy.min() < 0 or yy.max() >= p.shape[1]):
            raise CalibError(_ids.E_LABEL, "%s.score: labels must be in 0..%d" % (type(self).__name__, p.shape[1] - 1))
        pt = np.clip(p[np.arange(p.shape[0]), yy], np.finfo(np.float64).tiny, None)
        w = _arrays.weights(sample_weight, p.shape[0])
        return float(np.average(np.log(pt), weights=w))

    def __sklearn_is_fitted__(self):
        """scikit-learn's check_is_fitted: True once fit() or load() has run."""
        return self._model is not None

    def _more_tags(self):
        """scikit-learn estimator tags. Scores are logits with one column per
        class and labels are class indices 0..k-1, so the generic checks that
        feed arbitrary features or labels cannot apply: they are listed here,
        each with its reason (check_estimator reports them as expected
        failures; python/README.md has the table)."""
        return {"requires_y": True, "poor_score": True, "X_types": ["2darray"],
                "_xfail_checks": dict(_XFAIL_CHECKS)}

    # ---- fitted parameters -----------------------------------------------------
    def _model_param(self, param):
        m = self._require_model(param)
        which = _ids.MODEL_PARAMS[param]
        count = ctypes.c_size_t()
        get = fn("calib_model_param")
        check(get(m.ptr, which, None, 0, ctypes.byref(count)), "model array %r" % param)
        a = np.empty(count.value, _arrays.F64)
        check(get(m.ptr, which, _arrays.addr(a) if a.size else None, a.size, ctypes.byref(count)),
              "model array %r" % param)
        return a

    def model_params(self):
        """Every fitted array of the model: {attribute: value}."""
        return {attr: getattr(self, attr) for attr in self._fitted}

    # ---- provenance (model format version 2) -------------------------------------
    @property
    def info(self):
        """What the model records about its fit (calib_model_info_get) as a dict:
        format_version (1: no provenance, 2), has_reference, created_unix (0 =
        unknown), created (ISO-8601 UTC str, or None), tag (str), n (rows of the
        fit set, 0 = unknown), nll/ece/brier _before (softmax/sigmoid of the fit
        scores, or the input probabilities) and _after (the calibrated fit rows;
        ECE with 15 equal-width bins; NaN = unknown; unweighted), and with a
        reference: prior, confidence_hist (20 equal-width bins of the calibrated
        top-label confidence) and class_hist (predicted classes), float64 arrays
        of kc = max(k, 2), 20 and kc entries."""
        m = self._require_model("info")
        get = fn("calib_model_info_get")
        mi = _lib.ModelInfo()
        check(get(m.ptr, ctypes.byref(mi)), "info")
        out = {"format_version": int(mi.format_version), "has_reference": bool(mi.has_reference),
               "created_unix": int(mi.created_unix), "created": None,
               "tag": mi.tag.decode("utf-8"), "n": int(mi.n)}
        if mi.created_unix > 0:
            import datetime
            t = datetime.datetime.fromtimestamp(mi.created_unix, datetime.timezone.utc)
            out["created"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        for name in ("nll_before", "ece_before", "brier_before", "nll_after", "ece_after", "brier_after"):
            out[name] = float(getattr(mi, name))
        if mi.has_reference:
            ref = ctypes.c_void_p()
            check(fn("calib_model_reference")(m.ptr, ctypes.byref(ref)), "info: reference")
            try:
                for key, what in (("prior", 1), ("confidence_hist", 2), ("class_hist", 3)):
                    count = ctypes.c_size_t()
                    check(fn("calib_reference_get")(ref, what, None, 0, ctypes.byref(count)), "info: " + key)
                    a = np.empty(count.value, _arrays.F64)
                    check(fn("calib_reference_get")(ref, what, _arrays.addr(a), a.size, ctypes.byref(count)),
                          "info: " + key)
                    out[key] = a
            finally:
                fn("calib_reference_free")(ref)
        return out

    def with_provenance(self, tag=None, created_unix=None, keep_reference=True):
        """A new estimator of the same class and model (identical
        predict_proba) with `tag` (None: none) and `created_unix` (None: now,
        0: unknown); keep_reference keeps the fit-time reference and metrics
        the model carries (calib_model_with_reference). With no reference, no
        tag and created_unix=0 the copy is a version-1 model."""
        import time
        m = self._require_model("with_provenance")
        tag_bytes = _tag_bytes("with_provenance", tag)
        when = int(time.time()) if created_unix is None else int(created_unix)
        ref = ctypes.c_void_p()
        if keep_reference and self._model_has_reference():
            check(fn("calib_model_reference")(m.ptr, ctypes.byref(ref)), "with_provenance: reference")
        out = ctypes.c_void_p()
        try:
            check(fn("calib_model_with_reference")(ctypes.byref(out), m.ptr, ref, tag_bytes, when),
                  "with_provenance(tag=%r, created_unix=%r)" % (tag, created_unix))
        finally:
            if ref.value:
                fn("calib_reference_free")(ref)
        return type(self)._from_model(_Model(out.value), "with_provenance")

    def _model_has_reference(self):
        mi = _lib.ModelInfo()
        check(fn("calib_model_info_get")(self._model.ptr, ctypes.byref(mi)), "info")
        return bool(mi.has_reference)

    # ---- model bytes, files, pickling --------------------------------------------
    def to_bytes(self):
        """The model's versioned byte string (calib_model_save)."""
        m = self._require_model("to_bytes")
        size = fn("calib_model_size")(m.ptr)
        buf = bytearray(size)
        written = ctypes.c_size_t()
        check(fn("calib_model_save")(m.ptr, (ctypes.c_char * size).from_buffer(buf), size,
                                     ctypes.byref(written)), "to_bytes")
        return bytes(buf[:written.value])

    @classmethod
    def from_bytes(cls, data):
        """An estimator holding the model parsed from `data` (calib_model_load).
        On the base class, the class of the model's method is chosen."""
        data = bytes(data)
        out = ctypes.c_void_p()
        _call_detailed("calib_model_load", (ctypes.byref(out), data, len(data)), "from_bytes (%d bytes)" % len(data))
        return cls._from_model(_Model(out.value), "bytes")

    def save(self, path):
        """Write the model to `path` atomically (calib_model_save_file)."""
        m = self._require_model("save")
        _call_detailed("calib_model_save_file", (m.ptr, os.fsencode(path)), "save(%r)" % (os.fspath(path),))

    @classmethod
    def load(cls, path):
        """Read a model file written by save() (or by `calib fit -o`, or the C
        API). Calibrator.load / calib.load return the class of the file's
        method; TemperatureScaling.load etc. insist on their own method."""
        out = ctypes.c_void_p()
        _call_detailed("calib_model_load_file", (ctypes.byref(out), os.fsencode(path)), "load(%r)" % (os.fspath(path),))
        return cls._from_model(_Model(out.value), repr(os.fspath(path)))

    @classmethod
    def _from_model(cls, model, source):
        name = (fn("calib_method_name")(model.method) or b"?").decode()
        target = _REGISTRY.get(name)
        if target is None or not issubclass(target, cls):
            raise CalibError(_ids.E_ARG, "%s holds a %r model, not %r: use calib.load()"
                             % (source, name, cls.method))
        est = target()
        est._set_model(model)
        return est

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_model"] = self.to_bytes() if self._model is not None else None
        return state

    def __setstate__(self, state):
        state = dict(state)
        data = state.pop("_model", None)
        self.__dict__.update(state)
        self._model = None
        if data is not None:
            out = ctypes.c_void_p()
            _call_detailed("calib_model_load", (ctypes.byref(out), data, len(data)), "unpickling")
            self._set_model(_Model(out.value))


# scikit-learn's generic checks that cannot apply to a calibrator, and why
# (filled from running sklearn.utils.estimator_checks.check_estimator; see
# test/py/test_sklearn.py, which fails when a listed check starts passing or
# an unlisted one fails).
_LABELS = ("labels are class indices 0..k-1 of the k score columns; the check fits on arbitrary features "
           "with labels that are not (strings, or more classes than columns)")
_SEPARABLE = ("the check's small well-separated data have no finite optimum (CALIB_E_SEPARABLE / "
              "CALIB_E_NOSIGNAL): the library refuses rather than return an unbounded map")
_MESSAGE = "the error is the library's CalibError with its own message, not the text scikit-learn's validation prints"
_XFAIL_CHECKS = {
    "check_no_attributes_set_in_init": "the handle of the C model is allocated as None in __init__",
    "check_sample_weights_pandas_series": _LABELS,
    "check_sample_weights_not_an_array": _LABELS,
    "check_sample_weights_shape": _LABELS,
    "check_sample_weights_not_overwritten": _LABELS,
    "check_sample_weights_invariance": _LABELS,
    "check_estimators_fit_returns_self": _LABELS,
    "check_estimators_overwrite_params": _LABELS,
    "check_classifier_data_not_an_array": _LABELS,
    "check_classifiers_classes": _LABELS,
    "check_classifiers_train": _LABELS,
    "check_requires_y_none": _LABELS,
    "check_supervised_y_2d": "a (n, 1) label column is accepted as (n,) without a DataConversionWarning",
    "check_estimators_unfitted": "raises calib.NotFittedError (a ValueError and AttributeError), not scikit-learn's",
    "check_estimator_sparse_data": "scores are dense float32 arrays; sparse input fails with the library's message",
    "check_complex_data": _MESSAGE,
    "check_dtype_object": _MESSAGE + "; or " + _SEPARABLE,
    "check_estimators_empty_data_messages": _MESSAGE,
    "check_classifiers_regression_target": _MESSAGE,
    "check_fit2d_1feature": _MESSAGE + " (one column is the binary k = 1 case; labels must be 0/1)",
    "check_fit2d_predict1d": _MESSAGE + " (a 1-D array is n binary scores, not one row); or " + _SEPARABLE,
    "check_estimators_dtypes": _SEPARABLE,
    "check_estimators_nan_inf": _SEPARABLE,
    "check_pipeline_consistency": _SEPARABLE,
    "check_estimators_pickle": _SEPARABLE,
    "check_dict_unchanged": _SEPARABLE,
    "check_dont_overwrite_parameters": _SEPARABLE,
    "check_methods_sample_order_invariance": _SEPARABLE,
    "check_methods_subset_invariance": _SEPARABLE,
    "check_fit_idempotent": _SEPARABLE,
    "check_fit_check_is_fitted": _SEPARABLE,
    "check_n_features_in": _SEPARABLE,
    "check_estimators_partial_fit_n_features": _SEPARABLE,
    "check_classifiers_one_label": _MESSAGE + " (CALIB_E_ONECLASS)",
    "check_classifiers_one_label_sample_weights": _MESSAGE + " (CALIB_E_ONECLASS)",
    "check_estimators_nan_inf_predict": _MESSAGE,
    "check_non_transformer_estimators_n_iter": _SEPARABLE,
}

_apply = fn("calib_apply")
_addr = _arrays.addr


def load(path):
    """Load any model file; returns an instance of its method's class."""
    return Calibrator.load(path)


def from_bytes(data):
    """Parse any model bytes; returns an instance of its method's class."""
    return Calibrator.from_bytes(data)


# ---- fitted attributes from the model arrays -----------------------------------------
def _scalar(param):
    return lambda est: float(est._model_param(param)[0])


def _column(param, width, j):
    return lambda est: est._model_param(param).reshape(-1, width)[:, j].copy()


def _input_kind(param, index):
    names = {v: k for k, v in _ids.INPUT.items()}
    return lambda est: names.get(int(est._model_param(param)[index]), "unknown")


def _per_class(est, values, counts):
    """Split a class-after-class array into one array per class (k == 1: the array)."""
    v = est._model_param(values)
    cuts = np.cumsum(est._model_param(counts).astype(np.int64))[:-1]
    parts = np.split(v, cuts)
    return parts[0] if est._model.k == 1 else parts


def _hist_values(est):
    binning, bins = est._model_param("hist_config")[:2]
    if int(binning) == _ids.OPTION_CHOICES["binning"]["equal_width"]:
        v = est._model_param("hist_values").reshape(-1, int(bins))
        return v[0] if est._model.k == 1 else v
    return _per_class(est, "hist_values", "hist_counts")


def _hist_edges(est):
    binning, bins = est._model_param("hist_config")[:2]
    if int(binning) == _ids.OPTION_CHOICES["binning"]["equal_width"]:
        return np.arange(int(bins) + 1) / bins
    uppers = _per_class(est, "hist_edges", "hist_counts")
    add0 = lambda u: np.concatenate([[0.0], u])
    return add0(uppers) if est._model.k == 1 else [add0(u) for u in uppers]


# ---- the methods ------------------------------------------------------------------
# Each class: the library's method name, its options as keyword-only __init__
# arguments (None = the library's default; ids in _ids.OPTIONS) and its fitted
# attributes. Options and their defaults are documented in include/calib.h.


class TemperatureScaling(Calibrator):
    """Temperature scaling (Guo et al. 2017): p = softmax(z / T), one T > 0
    fitted by minimising the (weighted) mean NLL; k = 1: p = sigmoid(z / T).

    Options: max_iter (Newton steps, default 100), tol (stop when
    |dNLL/dlog T| <= tol * NLL, default 1e-10).
    Fitted: temperature_ (float), n_iter_, fit_report_."""
    method = "temperature"
    _fitted = {"temperature_": _scalar("temperature")}

    def __init__(self, *, max_iter=None, tol=None):
        super().__init__(max_iter=max_iter, tol=tol)


class PlattScaling(Calibrator):
    """Platt scaling (Platt 1999; Newton method of Lin, Lin & Weng 2007, as
    libsvm and scikit-learn): P(y = 1 | s) = 1 / (1 + exp(A s + B)) on the
    binary log-odds (k = 1), or one-vs-rest on each class's logit then
    normalised (k >= 2, as CalibratedClassifierCV(method="sigmoid")).

    Options: max_iter (100), tol (1e-5), smooth_targets (True: Platt's
    targets as scikit-learn; False: 0/1), input ("logits" or "probs"),
    clip_eps (2^-23), min_step (1e-10).
    Fitted: a_, b_ (arrays of k: A_j, B_j), input_, n_iter_, fit_report_."""
    method = "platt"
    _fitted = {"a_": _column("platt", 2, 0), "b_": _column("platt", 2, 1), "input_": _input_kind("input", 0)}

    def __init__(self, *, max_iter=None, tol=None, smooth_targets=None, input=None, clip_eps=None,
                 min_step=None):
        super().__init__(max_iter=max_iter, tol=tol, smooth_targets=smooth_targets, input=input,
                         clip_eps=clip_eps, min_step=min_step)


class BetaCalibration(Calibrator):
    """Beta calibration (Kull, Silva Filho & Flach 2017):
    P(y = 1 | s) = sigmoid(a ln s - b ln(1 - s) + c), a, b >= 0, on
    probabilities (sigmoid/softmax of logits by default); one-vs-rest for k >= 2.
    On logits the features are exact (ln s = -softplus(-x), -ln(1 - s) =
    softplus(x) of the log-odds x): clip_eps applies to probability input only.

    Options: max_iter, tol, smooth_targets (default False), input, clip_eps,
    min_step (as PlattScaling). Fitted: a_, b_, c_ (arrays of k), input_."""
    method = "beta"
    _fitted = {"a_": _column("beta", 3, 0), "b_": _column("beta", 3, 1), "c_": _column("beta", 3, 2),
               "input_": _input_kind("input", 0)}

    def __init__(self, *, max_iter=None, tol=None, smooth_targets=None, input=None, clip_eps=None,
                 min_step=None):
        super().__init__(max_iter=max_iter, tol=tol, smooth_targets=smooth_targets, input=input,
                         clip_eps=clip_eps, min_step=min_step)


class IsotonicCalibration(Calibrator):
    """Isotonic regression (Zadrozny & Elkan 2002) with scikit-learn's
    IsotonicRegression semantics (PAV, ties merged, linear interpolation);
    one-vs-rest then normalised for k >= 2.

    Options: increasing (True, False or "auto"; default True), y_min (0),
    y_max (1), out_of_bounds ("clip" or "raise"), strict (ramp fraction in
    [0, 0.25] that keeps ranks strict; 0), input: "logits" (default; k >= 2
    fits each class on its softmax probability), "probs", or "scores" (each
    class on its raw column, as scikit-learn does with a decision_function).
    Fitted: X_thresholds_, y_thresholds_ (arrays; a list of k arrays for
    k >= 2)."""
    method = "isotonic"
    _fitted = {"X_thresholds_": lambda est: _per_class(est, "iso_x", "iso_counts"),
               "y_thresholds_": lambda est: _per_class(est, "iso_y", "iso_counts")}

    def __init__(self, *, increasing=None, y_min=None, y_max=None, out_of_bounds=None, strict=None,
                 input=None):
        super().__init__(increasing=increasing, y_min=y_min, y_max=y_max, out_of_bounds=out_of_bounds,
                         strict=strict, input=input)


class HistogramBinning(Calibrator):
    """Histogram binning (Zadrozny & Elkan 2001): the calibrated value of a
    bin is its (weighted) positive rate; empty bins get their midpoint.

    Options: bins (default 10), binning ("equal_width" or "equal_mass"),
    input ("logits": binned as sigmoid/softmax probabilities, or "probs").
    Fitted: bin_values_ ((k, bins), or per class for equal mass), bin_edges_."""
    method = "histogram"
    _fitted = {"bin_values_": _hist_values, "bin_edges_": _hist_edges}

    def __init__(self, *, bins=None, binning=None, input=None):
        super().__init__(bins=bins, binning=binning, input=input)


def _square(param):
    def get(est):
        a = est._model_param(param)
        k = est._model.k
        return a.reshape(k, k)
    return get


class VectorScaling(Calibrator):
    """Vector scaling (Guo et al. 2017): p = softmax(w * z + b), k >= 2,
    minimising the weighted mean NLL (+ optional penalties).

    Options: max_iter (10000), tol (max gradient entry, 1e-6), odir_mu
    (penalty on b, 0), l2 (0), l2_center ("identity" or "zero"), newton_max,
    lbfgs_m (solver switches). Fitted: w_, b_ (arrays of k)."""
    method = "vector"
    _fitted = {"w_": lambda est: est._model_param("vector_w"), "b_": lambda est: est._model_param("bias")}

    def __init__(self, *, max_iter=None, tol=None, odir_mu=None, l2=None, l2_center=None, newton_max=None,
                 lbfgs_m=None):
        super().__init__(max_iter=max_iter, tol=tol, odir_mu=odir_mu, l2=l2, l2_center=l2_center,
                         newton_max=newton_max, lbfgs_m=lbfgs_m)


class MatrixScaling(Calibrator):
    """Matrix scaling (Guo et al. 2017): p = softmax(W z + b), k >= 2;
    unregularised by default (add odir_lambda/odir_mu or l2 at large k).

    Options: as VectorScaling, plus odir_lambda (off-diagonal ODIR penalty,
    Kull et al. 2019). Fitted: W_ ((k, k), row a = class a's output), b_."""
    method = "matrix"
    _fitted = {"W_": _square("matrix_w"), "b_": lambda est: est._model_param("bias")}

    def __init__(self, *, max_iter=None, tol=None, odir_lambda=None, odir_mu=None, l2=None, l2_center=None,
                 newton_max=None, lbfgs_m=None):
        super().__init__(max_iter=max_iter, tol=tol, odir_lambda=odir_lambda, odir_mu=odir_mu, l2=l2,
                         l2_center=l2_center, newton_max=newton_max, lbfgs_m=lbfgs_m)


class DirichletCalibration(Calibrator):
    """Dirichlet calibration (Kull et al. 2019): p = softmax(W ln q + b) with
    ln q = log_softmax(z); ODIR regularisation on by default (lambda = mu =
    1e-3). Options and fitted attributes as MatrixScaling."""
    method = "dirichlet"
    _fitted = {"W_": _square("matrix_w"), "b_": lambda est: est._model_param("bias")}

    def __init__(self, *, max_iter=None, tol=None, odir_lambda=None, odir_mu=None, l2=None, l2_center=None,
                 newton_max=None, lbfgs_m=None):
        super().__init__(max_iter=max_iter, tol=tol, odir_lambda=odir_lambda, odir_mu=odir_mu, l2=l2,
                         l2_center=l2_center, newton_max=newton_max, lbfgs_m=lbfgs_m)


class EnsembleTemperatureScaling(Calibrator):
    """Ensemble temperature scaling (Zhang, Kailkhura & Han 2020):
    p = w1 softmax(z / T) + w2 softmax(z) + w3 / k, weights on the simplex;
    T is the temperature-scaling fit, then the weights minimise the loss.

    Options: max_iter (100), tol (1e-10), loss ("nll", default, or "mse",
    Mix-n-Match's). Fitted: temperature_ (float), weights_ ((w1, w2, w3))."""
    method = "ets"
    _fitted = {"temperature_": _scalar("ets_temperature"), "weights_": lambda est: est._model_param("ets_weights")}

    def __init__(self, *, max_iter=None, tol=None, loss=None):
        super().__init__(max_iter=max_iter, tol=tol, loss=loss)


ESTIMATORS = dict(_REGISTRY)
