"""One clear message when the running interpreter has no numpy (issue 13):
the python3 first on PATH (a pyenv or a fresh build) often lacks it while
Debian's /usr/bin/python3 has it."""
import os
import subprocess
import sys

CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3")


def _has_numpy(exe):
    try:
        return subprocess.run([exe, "-c", "import numpy"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def require_numpy():
    try:
        import numpy  # noqa: F401
    except ImportError as e:
        here = os.path.realpath(sys.executable or "")
        others = [c for c in CANDIDATES if os.path.exists(c) and os.path.realpath(c) != here and _has_numpy(c)]
        use = ("use %s, which has it, " % others[0]) if others else ""
        raise ImportError(
            "calib needs numpy, and this interpreter (%s) has none (%s). %sor install numpy for this one "
            "(Debian: apt-get install python3-numpy); `make python` at the top of the repository makes .venv/bin/python "
            "with numpy and calib." % (sys.executable, e, "To run calib, " + use if use else "To run calib, ")
        ) from None
