#!/usr/bin/env bash
# Builds the pip wheel of ludus: the portable `ludus` executable (the build of
# scripts/build-portable.sh: x86_64 Linux, glibc 2.17, OpenSSL linked in; tagged manylinux2014)
# and the Python module in python/ludus. maturin and Zig come from PyPI on first use
# (scripts/build-tools.sh). Both scripts run the same compilation, so after one of them the
# other only repacks. Prints the wheel's path as its last line.
#
#   scripts/build-wheel.sh                    # -> target/wheels/ludus-<version>-py3-none-manylinux...whl
#   pip install "$(scripts/build-wheel.sh | tail -1)"
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/build-tools.sh
. scripts/build-tools.sh
portable_build
realpath "$WHEEL"
