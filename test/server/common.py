"""common.py -- what test/server/functional.py and load.py share: starting
bin/calib-serve on loopback (--port 0, the port read from its first line),
HTTP helpers (http.client, stdlib only), .npy bodies through numpy, models
fitted with bin/calib, and the independent numpy reference softmax(z / T)."""
import http.client
import io
import json
import os
import signal
import subprocess
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVE = os.environ.get("CALIB_SERVE", os.path.join(ROOT, "bin", "calib-serve"))
CLI = os.environ.get("CALIB_CLI", os.path.join(ROOT, "bin", "calib"))
DATA = os.path.join(ROOT, "data", "cifar10_densenet40_markus93")


class Server:
    def __init__(self, *args, binary=SERVE):
        self.args = [binary, "--port", "0"] + [str(a) for a in args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on http://127.0.0.1:" not in line:
            err = self.proc.stderr.read()
            raise RuntimeError("calib-serve did not start: %r %r" % (line, err))
        self.port = int(line.split("127.0.0.1:")[1].split()[0])
        self.banner = line.strip()

    def stop(self):
        """SIGTERM, wait; returns (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc, err

    def request(self, method, path, body=None, headers=None, chunked=False):
        """(status, headers dict (lower-case names), body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            if chunked:
                c.putrequest(method, path)
                for k, v in (headers or {}).items():
                    c.putheader(k, v)
                c.putheader("Transfer-Encoding", "chunked")
                c.endheaders()
                step = 65536
                for i in range(0, len(body), step):
                    part = body[i:i + step]
                    c.send(b"%x\r\n" % len(part) + part + b"\r\n")
                c.send(b"0\r\n\r\n")
            else:
                c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def json(self, method, path, obj=None, raw=None):
        body = raw if raw is not None else (None if obj is None else json.dumps(obj).encode())
        st, h, data = self.request(method, path, body, {"Content-Type": "application/json"})
        return st, h, json.loads(data) if data else None

    def calibrate_npy(self, x):
        st, h, data = self.request("POST", "/v1/calibrate", npy_bytes(x),
                                   {"Content-Type": "application/octet-stream"})
        return st, h, (np.load(io.BytesIO(data)) if st == 200 else json.loads(data))

    def metrics(self):
        st, h, data = self.request("GET", "/metrics")
        assert st == 200, st
        return parse_prometheus(data.decode())


def npy_bytes(x):
    b = io.BytesIO()
    np.save(b, x, allow_pickle=False)
    return b.getvalue()


def softmax_t(z, t):
    """The reference: softmax(z / T) in float64."""
    a = np.asarray(z, dtype=np.float64) / t
    a -= a.max(axis=1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits, labels, path, workdir, *extra):
    """bin/calib fit --method temperature [extra...]; returns T (from --json)."""
    lp, yp = os.path.join(workdir, "fit_logits.npy"), os.path.join(workdir, "fit_labels.npy")
    np.save(lp, np.asarray(logits, dtype=np.float32))
    np.save(yp, np.asarray(labels, dtype=np.int64))
    out = subprocess.run([CLI, "fit", "--method", "temperature", "--logits", lp, "--labels", yp, "-o", path,
                          "--json"] + list(extra), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["temperature"]


def synthetic(n, k, scale, seed):
    """Logits whose labels are drawn from softmax(logits / scale): the fitted T is near scale."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((n, k)) * 2.0).astype(np.float32)
    p = softmax_t(z, scale)
    c = p.cumsum(axis=1)
    y = (rng.random((n, 1)) < c).argmax(axis=1)
    return z, y


def parse_prometheus(text):
    """Parses the text exposition format strictly enough to catch errors:
    every sample line is `name{labels} value`, every name has a # TYPE before
    its samples, histograms have cumulative buckets ending at +Inf == _count.
    Returns {(name, frozenset(labels.items())): value}."""
    import re
    types, samples = {}, {}
    sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
    label_re = re.compile(r'^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$')
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, "TYPE twice: " + name
            types[name] = typ
            continue
        assert not line.startswith("#"), line
        m = sample_re.match(line)
        assert m, "bad sample line: %r" % line
        name, labels = m.group(1), {}
        if m.group(3):
            for part in m.group(3).split(","):
                lm = label_re.match(part)
                assert lm, "bad label %r in %r" % (part, line)
                labels[lm.group(1)] = lm.group(2)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, "sample before its TYPE: " + line
        v = m.group(4)
        value = {"NaN": float("nan"), "+Inf": float("inf"), "-Inf": float("-inf")}.get(v)
        samples[(name, frozenset(labels.items()))] = float(v) if value is None else value
    for name, typ in types.items():
        if typ != "histogram":
            continue
        series = {}
        for (n, labels), v in samples.items():
            if n == name + "_bucket":
                rest = frozenset((a, b) for a, b in labels if a != "le")
                le = dict(labels)["le"]
                series.setdefault(rest, []).append((float("inf") if le == "+Inf" else float(le), v))
        assert series, "histogram without buckets: " + name
        for rest, buckets in series.items():
            buckets.sort()
            vals = [v for _, v in buckets]
            assert all(a <= b for a, b in zip(vals, vals[1:])), "buckets not cumulative: " + name
            assert buckets[-1][0] == float("inf"), "no +Inf bucket: " + name
            assert samples[(name + "_count", rest)] >= buckets[-1][1], name
            assert (name + "_sum", rest) in samples, name
    return samples


def metric(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def wait_for(pred, timeout=10.0):
    t = time.time()
    while time.time() - t < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False
