#!/usr/bin/env bash
# Installs what the kiosk needs on a fresh Debian 12 with Rust: system packages when missing.
set -euo pipefail

packages=(
  pkg-config
  libclang-dev      # nokhwa's V4L2 bindings (bindgen)
  linux-libc-dev    # videodev2.h
  libudev-dev       # serialport, linuxkms input
  libinput-dev      # touch input without a desktop
  libxkbcommon-dev
  libfontconfig1-dev
  xvfb              # a virtual screen for UI tests
  espeak-ng         # Vietnamese read-aloud
  postgresql-15     # HQ's PostgreSQL back-end: tests start their own server
  postgresql-contrib # pg_trgm (name search index)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust (rustup) first" >&2
  exit 1
fi
