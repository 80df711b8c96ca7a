# Sourced by scripts/build-portable.sh and scripts/build-wheel.sh: puts Zig (the `ziglang`
# package), cargo-zigbuild and maturin, all from PyPI, on PATH. They live in their own Python
# venv, created on first use (no root needed):
#
#   LUDUS_BUILD_TOOLS   the venv's folder (default: ~/.cache/ludus-build/tools)
#
# The versions are pinned. cargo-zigbuild is the version maturin is built with, so both
# wrap Zig the same way and the wheel build reuses the portable build's compiled crates.
MATURIN_VERSION=1.16.0
CARGO_ZIGBUILD_VERSION=0.24.0
ZIGLANG_VERSION=0.17.1

LUDUS_BUILD_TOOLS=${LUDUS_BUILD_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ludus-build/tools}
_want="maturin==$MATURIN_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION ziglang==$ZIGLANG_VERSION"
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
# cargo-zigbuild runs Zig as `python3 -m ziglang`: the venv's python3 comes first.
export PATH="$LUDUS_BUILD_TOOLS/bin:$PATH"
unset _want
