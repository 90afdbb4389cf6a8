#!/bin/sh
# Install the Debian packages a group of tasks needs, only those missing.
# usage: Tools/build/deps.sh GROUP...
#   (groups: build debug runtime check bench callgrind windows)
# `make` itself needs only the build group (configure names what is missing);
# the others are what tests, the leak hunt and the benchmarks use.
# Non-interactive; needs root (or password-less sudo) only when something
# is missing.
set -eu

packages() {
    case "$1" in
    build)   echo gcc make patch libexpat1-dev zlib1g-dev python3.11 \
                  libpython3.11-dev python3.11-dev libpython3.11-testsuite \
                  python3.11-examples ;;
    debug)   echo libpython3.11-dbg python3.11-dbg ;;
    runtime) echo python3-uvloop python3-aiohttp ;;
    # make check's test-fork: git for the scratch checkout, python3.11-venv
    # for ensurepip (a venv with pip from the installed fork).
    check)   echo git python3.11-venv ;;
    bench)   echo wrk python3-matplotlib openssl ;;
    callgrind) echo valgrind openssl ;;
    windows) echo gcc-mingw-w64-x86-64 ;;
    *)       echo "deps.sh: unknown group '$1'" >&2; exit 2 ;;
    esac
}

missing=
for group in "$@"; do
    for pkg in $(packages "$group"); do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] || missing="$missing $pkg"
    done
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" = 0 ]; then
    sudo=
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
else
    echo "deps.sh: missing Debian packages:$missing" >&2
    echo "deps.sh: install them as root: apt-get install$missing" >&2
    exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; refresh them once and retry.
$sudo apt-get install -y -q --no-install-recommends $missing ||
    { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends $missing; }
