"""`pip install ./python` works offline with Debian's setuptools, bundles the
built library, and the installed package runs outside the repository.

A copy of python/ next to a copy of lib/libcalib.so.MAJOR (the repository
layout) is installed with `pip install --no-index` into a fresh virtual
environment (with the system site packages, for numpy); then, from /, with
PYTHONPATH and CALIB_LIBRARY unset, the installed package must load the copy
of the library bundled next to it and fit a model. The repository itself is
not touched (pip builds in the temporary copy).

Run from the repository root:  PYTHONPATH=python /usr/bin/python3 test/py/test_binding_install.py
Skips (exit 77) when the venv module or pip is unavailable.
"""
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBE = r"""
import os, sys, numpy as np, calib
assert calib.__file__.startswith(sys.prefix), calib.__file__
assert os.path.dirname(calib.library_path) == os.path.dirname(calib.__file__), calib.library_path
rng = np.random.default_rng(0)
z = rng.normal(0, 3, (2000, 5)).astype(np.float32)
y = np.argmax(z / 3 + rng.gumbel(size=z.shape), axis=1)
m = calib.TemperatureScaling().fit(z, y)
assert 2.0 < m.temperature_ < 4.5, m.temperature_
print("installed calib %s, library %s, T = %.3f" % (calib.__version__, calib.library_path, m.temperature_))
"""


def main():
    import calib  # the package under test, only to locate the built library
    lib = os.path.realpath(calib.library_path)
    try:
        import ensurepip  # noqa: F401  (Debian's python3-venv)
        import pip  # noqa: F401
    except ImportError as e:
        print("skip: %s (install python3-venv and python3-pip)" % e)
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(os.path.join(REPO, "python"), os.path.join(src, "python"),
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "libcalib*"))
        os.makedirs(os.path.join(src, "lib"))
        major = calib.library_version.split(".")[0]
        shutil.copy(lib, os.path.join(src, "lib", "libcalib.so." + major))
        venv = os.path.join(tmp, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True)
        py = os.path.join(venv, "bin", "python")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CALIB_LIBRARY", "PIP_INDEX_URL")}
        r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-cache-dir", "--disable-pip-version-check",
                            os.path.join(src, "python")], env=env, cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            return 1
        print([l for l in r.stdout.splitlines() if "Successfully" in l or "bundling" in l])
        r = subprocess.run([py, "-c", PROBE], env=env, cwd="/", capture_output=True, text=True)
        print(r.stdout.strip(), r.stderr.strip())
        return r.returncode


if __name__ == "__main__":
    sys.exit(main())
