#!/usr/bin/env bash
# The README's test command: installs the system tools the tests run (as root; otherwise
# stops naming the command that does), then runs every test: unit, integration and doc
# tests, in one cargo invocation. Extra arguments go to cargo (CI passes --locked).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
exec cargo test --workspace "$@"
