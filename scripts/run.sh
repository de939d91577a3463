#!/usr/bin/env bash
# Starts the kiosk in demo mode (simulated camera and scanner, demo accounts and applicants)
# with its own data directory; installs what it needs first. Extra arguments go to `kiosk`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export KIOSK_DATA_DIR="${KIOSK_DATA_DIR:-$PWD/demo-data}"
cargo build --release --locked --bin kiosk
exec "${CARGO_TARGET_DIR:-target}/release/kiosk" --demo "$@"
