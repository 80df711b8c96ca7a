#!/usr/bin/env bash
# Builds a portable ludus for x86_64 Linux: it needs glibc 2.17 or newer (RHEL/CentOS 7 and
# every later cluster system) and no shared OpenSSL (OpenSSL is built from source and linked in,
# the `vendored-openssl` feature). Zig links against glibc 2.17's symbols through
# cargo-zigbuild; scripts/build-tools.sh installs both from PyPI on first use (no root needed).
# Needs Python 3 with venv, perl and make. Prints the binary's path as its last line.
#
#   scripts/build-portable.sh                 # -> target/x86_64-unknown-linux-gnu/release/ludus
#   CARGO_TARGET_DIR=/tmp/t scripts/build-portable.sh
#
# The MPI build is not portable: build it on the cluster against the cluster's MPI (README,
# "Running on a cluster").
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/build-tools.sh
. scripts/build-tools.sh

TARGET=x86_64-unknown-linux-gnu
GLIBC=2.17
cargo zigbuild --locked --release --features vendored-openssl --target "$TARGET.$GLIBC" --bin ludus >&2

bin="${CARGO_TARGET_DIR:-target}/$TARGET/release/ludus"
# Loud, never silently wrong: the binary must not ask for a newer glibc or a shared OpenSSL.
if command -v objdump >/dev/null; then
  top=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  if [ "$(printf '%s\n%s\n' "$top" "$GLIBC" | sort -V | tail -1)" != "$GLIBC" ]; then
    echo "error: $bin needs glibc $top, more than $GLIBC" >&2
    exit 1
  fi
  if objdump -p "$bin" | grep -E 'NEEDED.*lib(ssl|crypto)' >&2; then
    echo "error: $bin links a shared OpenSSL" >&2
    exit 1
  fi
  echo "portable: highest glibc symbol $top, no shared OpenSSL" >&2
fi
realpath "$bin"
