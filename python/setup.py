"""Installs the `calib` package; run through pip: `pip install ./python`.

Deliberately a setup.py + setup.cfg project with no pyproject.toml: pip then
builds it with the setuptools already installed (Debian's python3-setuptools),
offline, instead of fetching a build backend into an isolated environment.

When the repository's library has been built (`make` at the top level), a
copy of lib/libcalib.so.MAJOR is bundled into the package, next to
__init__.py, so the installed package works without CALIB_LIBRARY or a
system-wide `make install`. Without it the package finds the library at run
time (CALIB_LIBRARY, or the system path).
"""
import os
import shutil

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _version_number():
    ns = {}
    with open(os.path.join(HERE, "calib", "_version.py")) as f:
        exec(f.read(), ns)
    return ns["VERSION_NUMBER"]


LIB_NAME = "libcalib.so.%d" % (_version_number() // 10000)
LIB_SRC = os.path.join(HERE, os.pardir, "lib", LIB_NAME)


class BinaryDistribution(Distribution):
    """A bundled shared library makes the wheel platform-specific."""

    def has_ext_modules(self):
        return os.path.exists(LIB_SRC)


class build_py_with_library(build_py):
    def run(self):
        super().run()
        name, src = LIB_NAME, LIB_SRC
        if os.path.exists(src):
            dst = os.path.join(self.build_lib, "calib", name)
            shutil.copyfile(os.path.realpath(src), dst)
            print("calib: bundling %s" % os.path.realpath(src))
        else:
            print("calib: %s not built; the installed package will look for libcalib at run time" % src)


setup(cmdclass={"build_py": build_py_with_library}, distclass=BinaryDistribution)
