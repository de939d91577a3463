#!/usr/bin/env bash
# Refreshes the README's screenshots from the tour (kiosk tour), into docs/screens/tour-*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --workspace --bin kiosk --bin enroll-hq
bin="${CARGO_TARGET_DIR:-target}/release"
out="${CARGO_TARGET_DIR:-target}/tour"
"$bin/kiosk" tour --out "$out" --hq-bin "$bin/enroll-hq"
for name in lock home demographics photo fingers resident-review receipt record sync; do
  cp "$(ls "$out"/[0-9][0-9]-"$name".png)" "docs/screens/tour-$name.png"
done
echo "docs/screens/tour-*.png refreshed from $out/tour.md"
