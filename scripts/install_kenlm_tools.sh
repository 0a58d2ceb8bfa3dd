#!/usr/bin/env bash
# Build KenLM's estimation tools (lmplz, build_binary) from the kenlm sdist on PyPI.
#
# The kenlm Python wheel only queries models; building one needs the C++ tools.
# They are built once into a cache dir and the script is instant afterwards:
#
#   ${EMENDO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/emendo}/kenlm-bin/{lmplz,build_binary}
#
# Usage: scripts/install_kenlm_tools.sh [--print-dir]
#   --print-dir   only print the bin dir (and exit 1 if the tools are not built yet)
#
# Environment:
#   EMENDO_CACHE_DIR    cache root (default ~/.cache/emendo)
#   KENLM_VERSION       sdist version to build (default 0.3.0)
#   PYTHON              interpreter whose pip downloads the sdist (default: .venv/bin/python or python3)
#   EMENDO_SKIP_APT=1   never call apt-get (fail if build deps are missing)
#
# Build deps (Debian 12): cmake g++ libboost-program-options-dev libboost-system-dev
# libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev
set -euo pipefail

CACHE_ROOT="${EMENDO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/emendo}"
BIN_DIR="$CACHE_ROOT/kenlm-bin"
KENLM_VERSION="${KENLM_VERSION:-0.3.0}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ "${1:-}" == "--print-dir" ]]; then
    echo "$BIN_DIR"
    [[ -x "$BIN_DIR/lmplz" && -x "$BIN_DIR/build_binary" ]]
    exit $?
fi

if [[ -x "$BIN_DIR/lmplz" && -x "$BIN_DIR/build_binary" ]]; then
    echo "kenlm tools already built in $BIN_DIR"
    exit 0
fi

# ---------------------------------------------------------------- build dependencies
APT_PACKAGES=(cmake g++ make libboost-program-options-dev libboost-system-dev libboost-thread-dev
              libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    if [[ "${EMENDO_SKIP_APT:-0}" == "1" ]]; then
        echo "missing build dependencies: ${missing[*]} (EMENDO_SKIP_APT=1)" >&2
        exit 1
    fi
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
    echo "installing build dependencies: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- sources
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kenlm-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "downloading kenlm==$KENLM_VERSION sdist"
# --no-binary kenlm (not :all:) so that the sdist's build requirements (cmake, wheel) come as wheels.
"$PYTHON" -m pip download --quiet --no-deps --no-binary kenlm -d "$WORK" "kenlm==$KENLM_VERSION"
tar -xzf "$WORK/kenlm-$KENLM_VERSION.tar.gz" -C "$WORK"
SRC="$WORK/kenlm-$KENLM_VERSION"

# ---------------------------------------------------------------- build
JOBS="$(nproc 2>/dev/null || echo 2)"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 \
      -DCOMPILE_TESTS=OFF -DENABLE_PYTHON=OFF >"$WORK/cmake.log" 2>&1 \
    || { cat "$WORK/cmake.log" >&2; exit 1; }
cmake --build "$WORK/build" --target lmplz build_binary -j "$JOBS" >"$WORK/build.log" 2>&1 \
    || { tail -50 "$WORK/build.log" >&2; exit 1; }

mkdir -p "$BIN_DIR"
install -m 0755 "$WORK/build/bin/lmplz" "$WORK/build/bin/build_binary" "$BIN_DIR/"
echo "kenlm $KENLM_VERSION tools installed in $BIN_DIR"
