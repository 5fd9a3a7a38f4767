"""The numeric identifiers of include/calib.h, in one place.

Every constant the binding passes to the library is written here once, with
the value calib.h gives it. Method ids are checked against calib_method_name()
and option ids against calib_param_bounds() when the package is imported
(see _verify.py); model-array ids are checked by the tests.
"""

# ---- status codes (CALIB_OK, CALIB_E_*) ------------------------------------
OK = 0
E_ARG = -1
E_NONFINITE = -2
E_LABEL = -3
E_ONECLASS = -4
E_NOMEM = -5
E_SMALLBUF = -6
E_FORMAT = -7
E_NOCONV = -8
E_UNSUPPORTED = -9
E_IO = -10
E_SEPARABLE = -11
E_NOSIGNAL = -12
E_SHAPE = -13
E_EMPTY = -14
E_DOMAIN = -15

STATUS_NAMES = {
    OK: "CALIB_OK", E_ARG: "CALIB_E_ARG", E_NONFINITE: "CALIB_E_NONFINITE",
    E_LABEL: "CALIB_E_LABEL", E_ONECLASS: "CALIB_E_ONECLASS", E_NOMEM: "CALIB_E_NOMEM",
    E_SMALLBUF: "CALIB_E_SMALLBUF", E_FORMAT: "CALIB_E_FORMAT", E_NOCONV: "CALIB_E_NOCONV",
    E_UNSUPPORTED: "CALIB_E_UNSUPPORTED", E_IO: "CALIB_E_IO", E_SEPARABLE: "CALIB_E_SEPARABLE",
    E_NOSIGNAL: "CALIB_E_NOSIGNAL", E_SHAPE: "CALIB_E_SHAPE", E_EMPTY: "CALIB_E_EMPTY",
    E_DOMAIN: "CALIB_E_DOMAIN",
}

# ---- methods (CALIB_METHOD_*): name as calib_method_name() gives it -> id ---
METHODS = {
    "temperature": 1,
    "platt": 2,
    "beta": 3,
    "isotonic": 4,
    "histogram": 5,
    "vector": 6,
    "matrix": 7,
    "dirichlet": 8,
    "ets": 9,
}

# ---- fitter options (CALIB_P_*): Python keyword -> id ----------------------
# Ranges reserved in calib.h: 1-2 common, 3-8 Platt/beta, 9-16 isotonic/
# histogram, 17-24 vector/matrix/Dirichlet, 25-28 ETS. Each estimator class
# lists which of these keywords it takes.
OPTIONS = {
    "max_iter": 1,         # CALIB_P_MAX_ITER
    "tol": 2,              # CALIB_P_TOL
    "smooth_targets": 3,   # CALIB_P_SMOOTH_TARGETS (Platt, beta)
    "input": 4,            # CALIB_P_INPUT (Platt, beta, isotonic, histogram)
    "clip_eps": 5,         # CALIB_P_CLIP_EPS (Platt, beta)
    "min_step": 6,         # CALIB_P_MIN_STEP (Platt, beta)
    "increasing": 9,       # CALIB_P_ISO_INCREASING
    "y_min": 10,           # CALIB_P_ISO_Y_MIN
    "y_max": 11,           # CALIB_P_ISO_Y_MAX
    "out_of_bounds": 12,   # CALIB_P_ISO_OUT_OF_BOUNDS
    "strict": 13,          # CALIB_P_ISO_STRICT
    "bins": 14,            # CALIB_P_HIST_BINS
    "binning": 15,         # CALIB_P_HIST_BINNING
    "odir_lambda": 17,     # CALIB_P_ODIR_LAMBDA (matrix, Dirichlet)
    "odir_mu": 18,         # CALIB_P_ODIR_MU (vector, matrix, Dirichlet)
    "l2": 19,              # CALIB_P_L2
    "l2_center": 20,       # CALIB_P_L2_CENTER
    "newton_max": 21,      # CALIB_P_NEWTON_MAX
    "lbfgs_m": 22,         # CALIB_P_LBFGS_M
    "loss": 25,            # CALIB_P_ETS_LOSS
}

# The kind of data a model takes (CALIB_INPUT_*; CALIB_P_INPUT, the suites).
# "scores" (raw scores used as they are) is for isotonic regression only.
INPUT = {"probs": 1, "logits": 2, "scores": 3}

# Options whose value may be given by name: keyword -> {name: the double passed to C}.
OPTION_CHOICES = {
    "input": INPUT,
    "increasing": {"auto": -1},                       # or True / False
    "out_of_bounds": {"clip": 0, "raise": 1},         # CALIB_OOB_CLIP, CALIB_OOB_ERROR
    "binning": {"equal_width": 0, "equal_mass": 1},   # CALIB_HIST_EQUAL_WIDTH, _EQUAL_MASS
    "l2_center": {"identity": 1, "zero": 0},          # or True / False
    "loss": {"nll": 0, "mse": 1},                     # CALIB_ETS_LOSS_NLL, _MSE
}

# ---- model parameter arrays (CALIB_MP_*): name -> id -----------------------
MODEL_PARAMS = {
    "temperature": 1,    # CALIB_MP_TEMPERATURE: [T]
    "platt": 2,          # CALIB_MP_PLATT: k x 2, rows (A_j, B_j)
    "input": 3,          # CALIB_MP_INPUT: (CALIB_INPUT_*, clip eps), Platt and beta
    "beta": 4,           # CALIB_MP_BETA: k x 3, rows (a_j, b_j, c_j)
    "beta_features": 5,  # CALIB_MP_BETA_FEATURES: [1] = exact logit features (no clipping)
    "iso_config": 7,     # CALIB_MP_ISO_CONFIG: (out_of_bounds, input, strict)
    "iso_counts": 8,     # CALIB_MP_ISO_COUNTS: thresholds per class
    "iso_x": 9,          # CALIB_MP_ISO_X: thresholds, class after class
    "iso_y": 10,         # CALIB_MP_ISO_Y: values at the thresholds
    "hist_config": 11,   # CALIB_MP_HIST_CONFIG: (binning, M, input)
    "hist_values": 12,   # CALIB_MP_HIST_VALUES: theta per bin, class after class
    "hist_edges": 13,    # CALIB_MP_HIST_EDGES: equal mass: upper edges
    "hist_counts": 14,   # CALIB_MP_HIST_COUNTS: equal mass: bins per class
    "vector_w": 15,      # CALIB_MP_VECTOR_W: vector scaling, w (k)
    "matrix_w": 16,      # CALIB_MP_MATRIX_W: matrix / Dirichlet, W (k x k, row-major)
    "bias": 17,          # CALIB_MP_BIAS: vector / matrix / Dirichlet, b (k)
    "ets_temperature": 20,  # CALIB_MP_ETS_TEMPERATURE: [T]
    "ets_weights": 21,   # CALIB_MP_ETS_WEIGHTS: (w1, w2, w3)
}

# ---- metrics suite ------------------------------------------------------------
SCOPE = {"top_label": 1, "classwise": 2, "positive_class": 3}            # CALIB_SCOPE_*
BINNING = {"equal_width": 1, "equal_width_left_closed": 2,               # CALIB_BINNING_*
           "equal_mass_kumar": 3, "equal_mass_index": 4}
NORM = {"l1": 1, "l2": 2, "max": 3}                                       # CALIB_NORM_*
BRIER = {"sum": 1, "mean_k": 2, "positive": 3, "top_label": 4}            # CALIB_BRIER_*
RD_FIELDS = ("lo", "hi", "count", "conf", "acc", "wilson_lo", "wilson_hi")  # CALIB_RD_*, in order
SUITES = {"tao2024": 1}                                                   # CALIB_SUITE_*
MMCE_WIDTH = 0.4                                                          # CALIB_MMCE_WIDTH
ACC_MEASURES = {                                                          # CALIB_M_*
    "count": 1, "accuracy": 2, "nll": 3, "brier": 4, "brier_k": 5, "brier_top_label": 6,
    "brier_positive": 7, "ece": 8, "rmsce": 9, "mce": 10, "debiased_l2": 11, "cw_ece": 12,
    "cw_rmsce": 13, "cw_mce": 14, "cw_debiased_l2": 15, "pos_ece": 16, "pos_rmsce": 17,
    "pos_mce": 18, "pos_debiased_l2": 19,
}

# ---- fit report items (CALIB_R_*) ------------------------------------------
REPORT = {
    "iterations": 1,
    "nll_before": 2,
    "nll_after": 3,
    "gradient": 4,
    "status": 5,
    "gap": 6,          # CALIB_R_GAP: estimated objective gap (Newton decrement / 2), NaN if not computed
    "condition": 7,    # CALIB_R_CONDITION: Hessian condition number, NaN if not computed
}
ILL_CONDITIONED = 1e9  # CALIB_ILL_CONDITIONED: fit_report_["ill_conditioned"] above it
