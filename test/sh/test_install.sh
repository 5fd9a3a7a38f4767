#!/bin/sh
# test/sh/test_install.sh PYTHON -- test/run.sh wrapper for test/install_test.sh
# (install/uninstall, SONAME, symbol prefixes, examples against the installed copy).
exec sh "$(dirname "$0")/../install_test.sh"
