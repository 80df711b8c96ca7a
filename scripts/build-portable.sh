#!/usr/bin/env bash
# Builds a portable ludus for x86_64 Linux: it needs glibc 2.17 or newer (RHEL/CentOS 7 and
# every later cluster system) and no shared OpenSSL (OpenSSL is built from source and linked in,
# the `vendored-openssl` feature). Zig links against glibc 2.17's symbols through maturin's
# built-in cargo-zigbuild; scripts/build-tools.sh installs maturin and Zig (`ziglang`) from PyPI
# on first use, no root needed. Needs Python 3 with venv, perl and make. The same compilation
# also packs the pip wheel (scripts/build-wheel.sh then only repacks it). Prints the binary's
# path as its last line.
#
#   scripts/build-portable.sh                 # -> target/x86_64-unknown-linux-gnu/release/ludus
#   CARGO_TARGET_DIR=/tmp/t scripts/build-portable.sh
#
# The MPI build is not portable: build it on the cluster against the cluster's MPI
# (docs/portable.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/build-tools.sh
. scripts/build-tools.sh
portable_build
realpath "$PORTABLE_BIN"
