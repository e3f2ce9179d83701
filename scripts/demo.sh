#!/usr/bin/env bash
# The README's first command: installs rclone if it is missing (as root; otherwise stops
# naming the command that does), then runs the DataMover operator's demo. Extra arguments
# go to `datamover-operator demo` (e.g. --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh demo
exec cargo run -p datamover-operator -- demo "$@"
