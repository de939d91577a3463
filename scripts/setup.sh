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
  faketime          # tests that move the wall clock under one process
  python3-venv      # the third-party R30x client the scanner simulator is tested against
  postgresql-15     # HQ's PostgreSQL back-end: tests start their own server
  postgresql-contrib # pg_trgm (name search index)
  chromium          # HQ dashboard browser tests (headless)
  chromium-driver   # WebDriver for those tests (fantoccini)
  libssl-dev        # SQLCipher (rusqlite's bundled-sqlcipher) links the system libcrypto
  tpm2-tools        # the kiosk seals its vault secret with the TPM through these tools
  swtpm             # a software TPM for tests/at_rest.rs
  swtpm-tools
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm installs axe-core for the dashboard's accessibility checks. Machines with NodeSource's
# nodejs already have npm, and Debian's npm package conflicts with it.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# pyfingerprint (PyPI) drives the R307 simulator in hardware/tests/scanner_third_party.rs.
# Debian's system pip is closed (PEP 668), so it lives in a venv in the target directory.
target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target/r30x-clients/venv"
if ! "$venv/bin/python" -c "import pyfingerprint, serial, PIL" 2>/dev/null; then
  echo "setup: installing pyfingerprint into $venv"
  py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "pyfingerprint==1.5" "pyserial==3.5"
fi

# moto (PyPI) is the S3-speaking server hq/tests/s3_blobs.rs starts on a loopback port.
moto_venv="$target/s3-server/venv"
# The tests run its moto_server script, whose first line names the venv's path: a target
# directory moved elsewhere keeps an importable moto but a script that cannot start.
if ! "$moto_venv/bin/python" -c "import moto.server" 2>/dev/null ||
  ! "$moto_venv/bin/moto_server" --help >/dev/null 2>&1; then
  echo "setup: installing moto[server] into $moto_venv"
  py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  "$py" -m venv --clear "$moto_venv"
  "$moto_venv/bin/pip" install -q --disable-pip-version-check "moto[server]==5.2.5"
fi

# axe-core (npm) is injected into each dashboard page by the browser tests (hq/tests/browser).
axe="$target/npm/node_modules/axe-core/axe.min.js"
if [ ! -f "$axe" ]; then
  echo "setup: installing axe-core into $target/npm"
  mkdir -p "$target/npm"
  npm install --silent --no-audit --no-fund --prefix "$target/npm" axe-core@4.10
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust (rustup) first" >&2
  exit 1
fi
