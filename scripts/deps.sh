#!/usr/bin/env bash
# Makes sure the system tools a command needs are installed: as root, installs the missing
# Debian packages with apt-get; otherwise stops at once, naming the one command that does.
#
#   scripts/deps.sh demo   # rclone: what `datamover-operator demo` runs
#   scripts/deps.sh test   # everything the tests run
set -euo pipefail

# command:package pairs.
case "${1:-test}" in
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
[ "${#missing[@]}" -eq 0 ] && exit 0

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
