#!/usr/bin/env bash
# Runs every test of the workspace (installs system packages first when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# tests/tour.rs runs the real kiosk and enroll-hq binaries: make sure both are built.
cargo build --workspace --locked --bins
cargo test --workspace --locked "$@"
