"""Honest skips for the Python tests (issue 10, item 8).

A part of a test that needs reference data (../shared/data, or
CALIB_SHARED_DATA) which is absent raises `missing(what)` (a
unittest.SkipTest whose reason starts with MISSING); the test's main() ends
with `sys.exit(finish(result))`:
  - any failure or error          -> 1
  - a part skipped for absent data -> 77 (test/run.sh prints "SKIP" with the
    reason) or, with CALIB_REQUIRE_SHARED=1 (set by .ci/run), 1 with a line
    saying which data is missing: a CI without the data is red, not green
  - otherwise 0; skips for other reasons (a method not in this build) are
    printed one per line, so `make test` shows each skip and its reason.
Scripts without unittest call `exit_missing(what)` instead."""
import os
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("CALIB_SHARED_DATA") or os.path.join(REPO, os.pardir, "shared", "data")
MISSING = "reference data missing: "


def require_shared():
    return os.environ.get("CALIB_REQUIRE_SHARED") == "1"


def missing(what):
    """The SkipTest to raise when `what` cannot run for want of data."""
    return unittest.SkipTest("%s%s (%s absent)" % (MISSING, what, SHARED))


def exit_missing(what):
    """Exit status of a script whose reference part cannot run (77, or 1 in CI)."""
    if require_shared():
        print("FAILED: CALIB_REQUIRE_SHARED=1 and %s%s (%s absent)" % (MISSING, what, SHARED))
        return 1
    print("skipped: %s%s (%s absent)" % (MISSING, what, SHARED))
    return 77


def finish(result):
    """Exit status of a unittest run: see the module docstring."""
    if not result.wasSuccessful():
        return 1
    data = sorted({r for _, r in result.skipped if r.startswith(MISSING)})
    for test, reason in result.skipped:
        if not reason.startswith(MISSING):
            print("skipped test: %s: %s" % (test.id(), reason))
    if not data:
        return 0
    if require_shared():
        print("FAILED: CALIB_REQUIRE_SHARED=1 and " + "; ".join(data))
        return 1
    print("skipped: %d part(s): %s" % (len(data), "; ".join(data)))
    return 77


def needs_shared(obj):
    """Decorates a test method or class that needs SHARED: without it the test
    is a missing-data skip (so finish() reports it, or fails it in CI)."""
    def check():
        if not os.path.isdir(SHARED):
            raise missing("the ../shared/data reference cases of %s" % obj.__name__)
    if isinstance(obj, type):
        old = obj.setUp

        def setUp(self):
            check()
            old(self)
        obj.setUp = setUp
        return obj

    def wrapped(self, *a, **k):
        check()
        return obj(self, *a, **k)
    wrapped.__name__ = obj.__name__
    return wrapped


def require_modules(modules, packages):
    """Imports each module of `modules`; when one is missing the test cannot
    run: exit 77 with the reason, or 1 in CI (CI or CALIB_REQUIRE_SHARED set),
    where `make deps` installs `packages`."""
    missing = []
    for m in modules:
        try:
            __import__(m)
        except ImportError as e:
            missing.append("%s (%s)" % (m, e))
    if not missing:
        return
    why = "python modules missing: %s; install %s (make deps)" % (", ".join(missing), packages)
    if require_shared() or os.environ.get("CI"):
        print("FAILED: " + why)
        sys.exit(1)
    print("skipped: " + why)
    sys.exit(77)


def optional_module(name, packages):
    """A module a test uses for one extra reference when present: the module,
    or None locally (a note is printed); in CI (CI or CALIB_REQUIRE_SHARED
    set), where `make deps` installs `packages`, its absence fails the run."""
    try:
        return __import__(name)
    except ImportError as e:
        why = "python module %s missing (%s); install %s (make deps)" % (name, e, packages)
        if require_shared() or os.environ.get("CI"):
            print("FAILED: " + why)
            sys.exit(1)
        print("note: %s: its checks are skipped" % why)
        return None
