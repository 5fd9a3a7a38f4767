"""benchjson.py -- the JSON-lines records every benchmark writes into
build/bench/ (issue 12 part 3), merged by bench/collect.py into
build/bench/results.json.

One record per line of a benchmark's table:
  {"table": <section>, "line": <what>, "seconds": <ours>, "anchor": <name>,
   "anchor_seconds": <theirs>, "ratio": <anchor_seconds / seconds>,
   "target": <text or null>, "value": <the figure the target is about>,
   "met": true / false / null (no target)}
plus any extra fields. A benchmark writes its file once, at the end, with
every line of its table (also when its correctness check fails: that line
then carries met false), so a file that is missing means the section did not
finish -- collect.py reports it as MISSED.

The directory is $BENCH_OUT, default <repository>/build/bench.
"""
import json
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def out_path(name):
    d = os.environ.get("BENCH_OUT") or os.path.join(ROOT, "build", "bench")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name + ".json")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def record(table, line, seconds=None, anchor=None, anchor_seconds=None, target=None, value=None, met=None,
           **extra):
    """One line of a table. ratio = anchor_seconds / seconds when both are known;
    value defaults to ratio; met stays None when there is no target."""
    ratio = anchor_seconds / seconds if seconds and anchor_seconds else None
    if value is None:
        value = ratio
    if met is not None:
        met = bool(met)
    r = {"table": table, "line": line, "seconds": seconds, "anchor": anchor, "anchor_seconds": anchor_seconds,
         "ratio": ratio, "target": target, "value": value, "met": met}
    r.update(extra)
    return r


def write(name, records):
    """Writes the records of one benchmark to <dir>/<name>.json, one JSON object per line."""
    la = loadavg()
    path = out_path(name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for r in records:
            r.setdefault("load_average", la)
            f.write(json.dumps(r, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
