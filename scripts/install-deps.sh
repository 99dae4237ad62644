#!/bin/sh
# Installs the Debian 12 packages pagesim needs, if any is missing. Runs `apt-get update` once,
# only when something must be installed. Extra package sets: `graphviz` (dump rendering) and
# `plot` (tracestat plots), named as arguments.
set -eu

packages="g++ make cmake libboost-program-options-dev libfmt-dev libspdlog-dev libgtest-dev \
libgmock-dev libbenchmark-dev python3"
for extra in "$@"; do
  case "$extra" in
    graphviz) packages="$packages graphviz" ;;
    plot) packages="$packages python3-matplotlib" ;;
    fuzz) packages="$packages clang libclang-rt-14-dev" ;;
    *) echo "install-deps: unknown package set '$extra'" >&2; exit 2 ;;
  esac
done

missing=""
for p in $packages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "install-deps: these packages are missing and I am not root:$missing" >&2
  echo "install-deps: run 'apt-get install$missing' as root, then try again." >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
