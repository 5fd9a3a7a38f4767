#!/bin/sh
# test/sh/test_header.sh PYTHON -- test/run.sh wrapper for test/header_test.sh
# (public headers compile as C99 and C++11 with -pedantic -Werror).
exec sh "$(dirname "$0")/../header_test.sh"
