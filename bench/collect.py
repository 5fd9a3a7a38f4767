"""collect.py [DIR] -- merges the per-section JSON-lines files that the
benchmarks of `make bench` write into DIR (default build/bench) into
DIR/results.json, and lists every missed target (issue 12 part 3).

Sections (one file each, DIR/<name>.json, one JSON record per table line):
  softmax       bench/report.py (the softmax tables: strict and row-wise)
  fit           bench/bench_fit.py (temperature fit vs scipy, >= 20x)
  platt         bench/bench_platt.py
  isotonic      bench/bench_isotonic.py
  matrix        bench/bench_matrix.py
  metrics       bench/bench_metrics.py
  binding       bench/bench_binding.py
  latency       single-row apply latency per method (issue 12)
  matrix_scale  matrix/Dirichlet fits as k grows (issue 12)
  typed         per-type apply throughput (issue 12)
A record either carries its own "target" / "met" (bench/benchjson.py;
met null = no target, the ratio is recorded only) or a list "targets" of
{"target", "value", "met"} (report.py's softmax records). A section whose
file is missing or unreadable (its program failed or never ran) gets one
record with met false, so it is reported as MISSED, never skipped silently.

Writes DIR/results.json (every record, one per line, each with its
"section") and DIR/summary.txt (one MISSED line per missed target, the
number of targets met), prints the summary. Exit status 0 (the run.sh
sections report their own failures).
"""
import json
import os
import sys

SECTIONS = ["softmax", "fit", "platt", "isotonic", "matrix", "metrics", "binding", "latency", "matrix_scale",
            "typed"]


def fmt(v):
    return "%.4g" % v if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def describe(r):
    """A short name of the table line a record is about."""
    parts = [str(r.get("table", "?"))]
    for key in ("line", "method", "reg", "type"):
        if r.get(key) is not None:
            parts.append(str(r[key]))
    if "n" in r and "k" in r and "(%s, %s)" % (r["n"], r["k"]) not in " ".join(parts) and \
            "(%s,%s)" % (r["n"], r["k"]) not in " ".join(parts):
        parts.append("(%s, %s)" % (r["n"], r["k"]))
    elif "k" in r and "n" not in r:
        parts.append("k = %s" % r["k"])
    return " ".join(parts)


def targets(r):
    """(target, value, met) of every target of a record."""
    if isinstance(r.get("targets"), list):
        return [(t.get("target"), t.get("value"), t.get("met")) for t in r["targets"]]
    if r.get("target") is not None or r.get("met") is not None:
        return [(r.get("target"), r.get("value"), r.get("met"))]
    return []


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "bench")
    records, missed, n_met, n_free = [], [], 0, 0
    for sec in SECTIONS:
        path = os.path.join(d, sec + ".json")
        recs, err = [], None
        try:
            with open(path) as f:
                for line in f:
                    if line.strip():
                        recs.append(json.loads(line))
            if not recs:
                err = "empty"
        except OSError:
            err = "missing"
        except ValueError as e:
            err = "unreadable (%s)" % e
        if err:
            recs = [{"table": sec, "line": "%s.json %s" % (sec, err),
                     "target": "required: %s.json written by its benchmark" % sec, "value": None, "met": False}]
        for r in recs:
            r["section"] = sec
            records.append(r)
            ts = targets(r)
            if not ts:
                n_free += 1
            for target, value, met in ts:
                if met is None:
                    n_free += 1
                elif met:
                    n_met += 1
                else:
                    why = ""
                    if value is not None:
                        why = " (value %s)" % fmt(value)
                    elif str(r.get("status", "")).startswith("not run"):
                        why = " (%s)" % r["status"]
                    missed.append("MISSED %s: %s%s" % (describe(r), target, why))
    out = os.path.join(d, "results.json")
    with open(out + ".tmp", "w") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    os.replace(out + ".tmp", out)
    try:
        with open("/proc/loadavg") as f:
            la = " ".join(f.read().split()[:3])
    except OSError:
        la = "?"
    lines = ["bench summary: %d records in %s (%d sections); %d targets met, %d missed, %d lines without a target"
             % (len(records), out, len(SECTIONS), n_met, len(missed), n_free),
             "load average at the end of the run: %s" % la] + missed
    if not missed:
        lines.append("every target met")
    with open(os.path.join(d, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
