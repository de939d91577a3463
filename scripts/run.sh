#!/usr/bin/env bash
# Starts the kiosk in demo mode (simulated camera and scanner, demo accounts and applicants)
# with its own data directory; installs what it needs first. Extra arguments go to `kiosk`.
# With no display it says so and runs the tour instead: a whole visit through the real UI,
# a PNG of every screen and a report in ./tour (or $KIOSK_TOUR_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export KIOSK_DATA_DIR="${KIOSK_DATA_DIR:-$PWD/demo-data}"
cargo build --release --locked --workspace --bin kiosk --bin enroll-hq
bin="${CARGO_TARGET_DIR:-target}/release"
# A desktop (X11 or Wayland), or a backend chosen on purpose (linuxkms on the kiosk itself).
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ -n "${SLINT_BACKEND:-}" ]; then
  exec "$bin/kiosk" --demo "$@"
fi
tour="${KIOSK_TOUR_DIR:-$PWD/tour}"
echo "Không có màn hình (DISPLAY trống): chạy chuyến tham quan, ảnh và báo cáo ở $tour / No display: running the tour instead; screens and report in $tour"
exec "$bin/kiosk" tour --out "$tour" --hq-bin "$bin/enroll-hq"
