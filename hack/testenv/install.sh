#!/usr/bin/env bash
# Placeholder until the test cluster build lands: writes an empty env file.
set -euo pipefail
cache=${1:-$HOME/.cache/serin-testenv}
mkdir -p "$cache"
: > "$cache/env"
