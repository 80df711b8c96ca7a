#!/usr/bin/env bash
# Builds the pip wheel of ludus: the portable `ludus` executable (as scripts/build-portable.sh
# builds it: x86_64 Linux, glibc 2.17, OpenSSL linked in; tagged manylinux2014) and the Python
# module in python/ludus. maturin, cargo-zigbuild and Zig come from PyPI on first use
# (scripts/build-tools.sh). Prints the wheel's path as its last line.
#
#   scripts/build-wheel.sh                    # -> target/wheels/ludus-<version>-py3-none-manylinux...whl
#   pip install "$(scripts/build-wheel.sh | tail -1)"
#
# maturin compiles with the same target, features, profile and Zig wrappers as
# scripts/build-portable.sh, in the same target folder: after one of the two, the other
# reuses its compiled crates.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/build-tools.sh
. scripts/build-tools.sh

out="${CARGO_TARGET_DIR:-target}/wheels"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# pyproject.toml sets bindings, features and the manylinux2014 (glibc 2.17) compatibility.
maturin build --locked --release --zig --target x86_64-unknown-linux-gnu --out "$out" 2>&1 | tee "$log" >&2
wheel=$(sed -n 's/.*Built wheel to //p' "$log" | tail -1)
if [ -z "$wheel" ] || [ ! -f "$wheel" ]; then
  echo "error: maturin did not say where it wrote the wheel (see its output above)" >&2
  exit 1
fi
realpath "$wheel"
