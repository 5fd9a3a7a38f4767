"""report.py RESULTS_FILE [JSON_OUT] -- one table from the RESULT lines of
bench_softmax, bench_onednn and bench_numpy (all: RESULT <what> <n> <k>
<median s> <min s>). With JSON_OUT (run.sh: build/bench/softmax.json,
merged into results.json by bench/collect.py), one JSON record per line of
the tables (shape, times in seconds, ratios, and each target with met
true/false; a target whose times are missing, e.g. oneDNN not built, is
met false) is written there, and every missed target is printed after the
table.

Columns: median time per call in milliseconds (the lowest median over the
alternating rounds run.sh makes); "copy" is memcpy of the same
n*k*4 bytes (GB/s = n*k*4 / time; in the row-wise table the memcpy that
bench_softmax times batch for batch in alternation with the row-wise call,
"memcpy-rows", so that both see the same spell of the machine); "calib" is the public calib_softmax on the
dispatched ISA (validation pass + kernel, what a caller pays); "rows" is the
public calib_softmax_rows (row-wise mode: validation fused into the kernel,
bad rows NaN, a status array written) on the dispatched ISA; the per-ISA
columns are the same work through each kernel table; "check" is the
validation pass alone (dispatched ISA). Ratios: oneDNN time / calib time,
numpy time / calib time, copy time / calib time (fraction of copy bandwidth).
"""
import json
import sys

SHAPES = [(1, 1000), (1000000, 10), (100000, 100), (50000, 1000)]
# strict mode (calib_softmax): oneDNN ratio, share of copy bandwidth; (1e6, 10) >= 3x since issue 12
TARGETS = {(50000, 1000): (1.5, 0.5), (1000000, 10): (3.0, None)}
# issue 12 part 3, row-wise mode: share of copy bandwidth, and ahead of oneDNN
ROWS_TARGETS = {(50000, 1000): (1.0, 0.9), (100000, 100): (1.0, 0.9)}


def main():
    res, info = {}, []
    for line in open(sys.argv[1]):
        f = line.split()
        if len(f) >= 6 and f[0] == "RESULT":
            key = (f[1], int(f[2]), int(f[3]))
            res[key] = min(res.get(key, float("inf")), float(f[4]))  # best round's median
        elif f and f[0] == "INFO" and " ".join(f[1:]) not in info:
            info.append(" ".join(f[1:]))
    isa = next((i.split()[3].rstrip(";") for i in info if i.startswith("calib dispatched isa")), "?")

    def get(name, n, k):
        return res.get((name, n, k))

    def ms(v):
        return "%9.4f" % (v * 1e3) if v is not None else "%9s" % "n/a"

    def ratio(a, b):
        return "%7.2fx" % (a / b) if a is not None and b else "%8s" % "n/a"

    print()
    print("Softmax float32, single thread, median time per call [ms], best of the rounds "
          "(dispatched ISA: %s)" % isa)
    print("All buffers pre-touched (written once) before timing, for libcalib and every anchor.")
    hdr = ("%-14s %8s %9s %9s %9s %9s %9s %9s %9s %9s %8s %8s %8s"
           % ("shape (n,k)", "copyGB/s", "copy", "calib", "check", "scalar", "avx2", "avx512",
              "oneDNN", "numpy", "vs1DNN", "vsnumpy", "copyfrac"))
    rows_lines = []
    records = []
    print(hdr)
    print("-" * len(hdr))
    verdicts = []
    for n, k in SHAPES:
        cp, cal = get("memcpy", n, k), get("calib-public", n, k)
        dnn, npy = get("onednn", n, k), get("numpy", n, k)
        gbs = "%8.2f" % (n * k * 4 / cp / 1e9) if cp else "%8s" % "n/a"
        print("%-14s %s %s %s %s %s %s %s %s %s %s %s %s" % (
            "(%d,%d)" % (n, k), gbs, ms(cp), ms(cal), ms(get("calib-%s-check" % isa, n, k)),
            ms(get("calib-scalar", n, k)), ms(get("calib-avx2", n, k)), ms(get("calib-avx512", n, k)),
            ms(dnn), ms(npy), ratio(dnn, cal), ratio(npy, cal),
            "%7.0f%%" % (100 * cp / cal) if cp and cal else "%8s" % "n/a"))
        rw = get("calib-rows", n, k)
        # the row-wise mode's copy: the memcpy timed in alternation with it (bench_softmax time_pair)
        cpr = get("memcpy-rows", n, k)
        rows_lines.append("%-14s %s %s %s %s %s %s" % (
            "(%d,%d)" % (n, k), ms(cpr), ms(rw), ms(cal), ratio(cal, rw), ratio(dnn, rw),
            "%7.0f%%" % (100 * cpr / rw) if cpr and rw else "%8s" % "n/a"))
        strict_t, rows_t = [], []
        if (n, k) in ROWS_TARGETS and not (rw and dnn and cpr):  # a missing measurement is a miss
            rows_t.append({"target": "row-wise, oneDNN and copy times measured", "value": None, "met": False})
        if (n, k) in TARGETS and not (cal and dnn and cp):
            strict_t.append({"target": "strict, oneDNN and copy times measured", "value": None, "met": False})
        if (n, k) in ROWS_TARGETS and rw:
            want_dnn, want_copy = ROWS_TARGETS[(n, k)]
            if dnn:
                met = dnn / rw > want_dnn
                rows_t.append({"target": "oneDNN time / rows time > %.1f" % want_dnn, "value": dnn / rw, "met": met})
                verdicts.append("(%d,%d) row-wise: %.2fx oneDNN (target > %.1fx): %s"
                                % (n, k, dnn / rw, want_dnn, "met" if met else "NOT met"))
            if cpr:
                met = cpr / rw >= want_copy
                rows_t.append({"target": "copy time / rows time >= %.2f" % want_copy, "value": cpr / rw,
                               "met": met})
                verdicts.append("(%d,%d) row-wise: %.0f%% of copy bandwidth (target >= %.0f%%): %s"
                                % (n, k, 100 * cpr / rw, 100 * want_copy, "met" if met else "NOT met"))
        if (n, k) in TARGETS and cal:
            want_dnn, want_copy = TARGETS[(n, k)]
            if dnn:
                met = dnn / cal >= want_dnn
                strict_t.append({"target": "oneDNN time / calib time >= %.1f" % want_dnn, "value": dnn / cal,
                                 "met": met})
                verdicts.append("(%d,%d): %.2fx oneDNN (target >= %.1fx): %s"
                                % (n, k, dnn / cal, want_dnn, "met" if met else "NOT met"))
            if want_copy and cp:
                met = cp / cal >= want_copy
                strict_t.append({"target": "copy time / calib time >= %.2f" % want_copy, "value": cp / cal,
                                 "met": met})
                verdicts.append("(%d,%d): %.0f%% of copy bandwidth (target >= %.0f%%): %s"
                                % (n, k, 100 * cp / cal, 100 * want_copy, "met" if met else "NOT met"))

        def rec(line, t, c, base):
            return {"table": "softmax", "line": line, "n": n, "k": k, "seconds": t, "copy_seconds": c,
                    "onednn_seconds": dnn, "numpy_seconds": npy,
                    "vs_onednn": dnn / t if dnn and t else None, "copy_fraction": c / t if c and t else None,
                    "targets": base}
        records.append(rec("strict (calib_softmax)", cal, cp, strict_t))
        records.append(rec("row-wise (calib_softmax_rows)", rw, cpr, rows_t))
    print()
    print("Row-wise mode (calib_softmax_rows: validation fused into the kernel, one read + one write)")
    hdr2 = "%-14s %9s %9s %9s %8s %8s %8s" % ("shape (n,k)", "copy", "rows", "strict", "vsStrict",
                                               "vs1DNN", "copyfrac")
    print(hdr2)
    print("-" * len(hdr2))
    for line in rows_lines:
        print(line)
    print()
    print("Targets:")
    for v in verdicts:
        print("  " + v)
    for i in info:
        if "implementation" in i or "version" in i or i.startswith("load average"):
            print("  note: " + i)
    if len(sys.argv) > 2:
        loads = [i for i in info if i.startswith("load average")]
        for r in records:
            r["load_average"] = loads
        with open(sys.argv[2], "w") as f:
            for r in records:
                f.write(json.dumps(r, sort_keys=True) + "\n")
        missed = ["(%d,%d) %s: %s (%s)" % (r["n"], r["k"], r["line"], t["target"],
                                           "%.3g" % t["value"] if t["value"] is not None else "n/a")
                  for r in records for t in r["targets"] if not t["met"]]
        print()
        print("Missed targets (%s):" % sys.argv[2] if missed else "Every softmax target met (%s)." % sys.argv[2])
        for m in missed:
            print("  MISSED " + m)


if __name__ == "__main__":
    main()
