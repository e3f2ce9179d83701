#!/usr/bin/env bash
# Makes sure the system tools a command needs are installed: as root, installs the missing
# Debian packages with apt-get; otherwise stops at once, naming the one command that does.
#
#   scripts/deps.sh demo   # rclone: what `datamover-operator demo` runs
#   scripts/deps.sh test   # everything the tests run, and the S3 server's venv (below)
#
# `test` also makes the Python venv of the S3 API the tests run against: moto's server
# (PyPI), whose boto3 is the tests' S3 client, in target/test-venv (git-ignored; made once,
# made again when its requirements change, so running this twice installs nothing twice).
# It needs no root: python3 with its venv module (Debian's python3-venv) and PyPI.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# command:package pairs.
set -- "${1:-test}"
case "$1" in
demo) wanted=(rclone:rclone) ;;
test)
    wanted=(
        rclone:rclone
        promtool:prometheus
        prometheus:prometheus
        amtool:prometheus-alertmanager
        curl:curl
        openssl:openssl
        kubectl:kubernetes-client
        chromium:chromium
        protoc:protobuf-compiler
        python3:python3-venv
    )
    ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac

missing=()
for pair in "${wanted[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 && continue
    package="${pair#*:}"
    [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package")
done
# python3 without its venv module (Debian splits it out) cannot make the S3 server's venv.
if [ "$1" = test ] && command -v python3 >/dev/null 2>&1 &&
    ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1 &&
    [[ " ${missing[*]-} " != *" python3-venv "* ]]; then
    missing+=(python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    install="apt-get install -y --no-install-recommends ${missing[*]} ca-certificates"
    if [ "$(id -u)" != 0 ]; then
        echo "error: missing system packages: ${missing[*]}" >&2
        echo "install them with:  sudo apt-get update && sudo $install" >&2
        exit 1
    fi
    echo "--- installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    $install
fi
[ "$1" = test ] || exit 0

# The S3 API of the tests: moto's server and boto3. `moto[s3]` with Flask and flask-cors is
# what `moto_server` needs for S3 (142 MB); the `[server]` extra would add every other
# AWS service's dependencies (319 MB). Pinned, so every machine tests against the same one.
venv="$root/target/test-venv"
requirements="moto[s3]==5.2.6 flask==3.1.3 flask-cors==6.0.5"
if [ "$(cat "$venv/requirements" 2>/dev/null)" != "$requirements" ] ||
    ! "$venv/bin/moto_server" --help >/dev/null 2>&1; then
    echo "--- making the S3 test server's venv: $venv ($requirements)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # one requirement per word
    "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
    echo "$requirements" >"$venv/requirements"
fi
