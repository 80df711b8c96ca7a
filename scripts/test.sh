#!/usr/bin/env bash
# Runs the whole ludus test suite: formatting, lints, unit and integration tests, including the
# real-sshd, real-mpirun tests. Installs the Debian packages those need when they are missing
# (as root, or through sudo), so it works on a fresh Debian machine with Rust.
#
#   scripts/test.sh            # everything
#   scripts/test.sh plan       # only tests whose name matches "plan" (cargo test filter)
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use: OpenMPI (+ libclang for the mpi crate's bindgen), an OpenSSH
# server and client for the upload/download tests, SLURM and munge for the submit tests,
# python3 for the exec examples, rsync and GNU parallel for the benchmarks' baselines;
# chromium (headless) for the report page test; for the portable build and the wheel:
# python3-venv (the build tools' venv and the wheel's test venv), perl and make (OpenSSL built
# from source), binutils (objdump in the checks).
PACKAGES=(openmpi-bin libopenmpi-dev libclang-dev pkg-config libssl-dev openssh-server openssh-client
  rsync slurm-wlm munge python3 parallel chromium python3-venv perl make binutils)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# mpirun refuses root unless told; CI runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# The portable build and the wheel are checked in the portable-test profile (Cargo.toml): the
# release build's target, linker, glibc 2.17 and vendored OpenSSL, compiled faster.
export LUDUS_PORTABLE_PROFILE=${LUDUS_PORTABLE_PROFILE:-portable-test}

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (default features, and with mpi)"
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --all-targets --features mpi -- -D warnings
if [ $# -eq 0 ]; then
  # Built here, one after the other, rather than inside the test run where they would compete
  # with timing-sensitive tests for the CPU; tests/it/portable.rs runs the same scripts again,
  # which then only check that nothing changed.
  echo "== portable build and wheel (scripts/build-portable.sh, scripts/build-wheel.sh)"
  scripts/build-portable.sh
  scripts/build-wheel.sh
fi
echo "== cargo test --features mpi"
cargo test --locked --features mpi --no-fail-fast -- "$@"
