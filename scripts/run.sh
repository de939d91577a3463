#!/usr/bin/env bash
# Starts the kiosk in demo mode with its own data directory (installs what it needs first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export KIOSK_DATA_DIR="${KIOSK_DATA_DIR:-$PWD/demo-data}"
cargo build --release --locked --bin kiosk
kiosk=target/release/kiosk
if [ -z "$($kiosk records list --json --limit 1 | tr -d '[:space:]' | sed 's/^\[\]$//')" ]; then
  $kiosk demo-data --count 25 --save >/dev/null
fi
$kiosk records list --limit 25
exec $kiosk "$@"
