# Sourced by scripts/build-portable.sh and scripts/build-wheel.sh. Puts Zig (the `ziglang`
# package) and maturin, both from PyPI, on PATH, in a Python venv of their own created on first
# use (no root needed), and defines `portable_build`, the one compilation both scripts share.
#
#   LUDUS_BUILD_TOOLS   the venv's folder (default: ~/.cache/ludus-build/tools)
#   PYTHON              the Python that creates it (default: python3)
#   LUDUS_PORTABLE_PROFILE  the cargo profile of the build (default: release; the test suite
#                       uses portable-test, Cargo.toml, which compiles faster)
#
# maturin links through cargo-zigbuild (built into it) with Zig. Both scripts run the same
# maturin command: the binary it compiles is the portable build and the wheel packs it, so the
# second script finds everything compiled. (A separate `cargo zigbuild` would wrap Zig in
# scripts of its own, a different compiler path for the C code of OpenSSL and libssh2, and
# compile them again.)
MATURIN_VERSION=1.16.0
ZIGLANG_VERSION=0.17.1
PORTABLE_TARGET=x86_64-unknown-linux-gnu
PORTABLE_GLIBC=2.17
PORTABLE_PROFILE=${LUDUS_PORTABLE_PROFILE:-release}

LUDUS_BUILD_TOOLS=${LUDUS_BUILD_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ludus-build/tools}
_want="maturin==$MATURIN_VERSION ziglang==$ZIGLANG_VERSION"
if [ "$(cat "$LUDUS_BUILD_TOOLS/.ludus-tools" 2>/dev/null)" != "$_want" ]; then
  echo "installing the build tools into $LUDUS_BUILD_TOOLS: $_want" >&2
  PYTHON=${PYTHON:-python3}
  if ! "$PYTHON" -m venv --clear "$LUDUS_BUILD_TOOLS" >&2; then
    echo "error: '$PYTHON -m venv' failed; install Python's venv module (Debian: apt-get install python3-venv) or set PYTHON" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  "$LUDUS_BUILD_TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check $_want >&2
  echo "$_want" > "$LUDUS_BUILD_TOOLS/.ludus-tools"
fi
# Zig runs as `python3 -m ziglang`: the venv's python3 comes first.
export PATH="$LUDUS_BUILD_TOOLS/bin:$PATH"
unset _want

# Compiles the portable ludus and packs the wheel (pyproject.toml: bindings "bin", the
# vendored-openssl feature, manylinux2014 = glibc 2.17). Sets PORTABLE_BIN and WHEEL.
portable_build() {
  local out="${CARGO_TARGET_DIR:-target}/wheels" log
  # The same wheel file name for every profile: keep the release wheel apart from the others.
  [ "$PORTABLE_PROFILE" = release ] || out="$out/$PORTABLE_PROFILE"
  log=$(mktemp)
  if ! maturin build --locked --profile "$PORTABLE_PROFILE" --zig --target "$PORTABLE_TARGET" --out "$out" 2>&1 | tee "$log" >&2; then
    rm -f "$log"
    echo "error: maturin failed (its output is above)" >&2
    exit 1
  fi
  WHEEL=$(sed -n 's/.*Built wheel to //p' "$log" | tail -1)
  rm -f "$log"
  if [ -z "$WHEEL" ] || [ ! -f "$WHEEL" ]; then
    echo "error: maturin did not say where it wrote the wheel (its output is above)" >&2
    exit 1
  fi
  PORTABLE_BIN="${CARGO_TARGET_DIR:-target}/$PORTABLE_TARGET/$PORTABLE_PROFILE/ludus"
  # Loud, never silently wrong: no newer glibc than 2.17, no shared OpenSSL.
  if command -v objdump >/dev/null; then
    local top
    top=$(objdump -T "$PORTABLE_BIN" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
    if [ "$(printf '%s\n%s\n' "$top" "$PORTABLE_GLIBC" | sort -V | tail -1)" != "$PORTABLE_GLIBC" ]; then
      echo "error: $PORTABLE_BIN needs glibc $top, more than $PORTABLE_GLIBC" >&2
      exit 1
    fi
    if objdump -p "$PORTABLE_BIN" | grep -E 'NEEDED.*lib(ssl|crypto)' >&2; then
      echo "error: $PORTABLE_BIN links a shared OpenSSL" >&2
      exit 1
    fi
    echo "portable: highest glibc symbol $top, no shared OpenSSL" >&2
  fi
}
