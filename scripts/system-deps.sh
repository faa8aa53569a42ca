#!/usr/bin/env bash
# Debian packages the tests and the demo use: mosquitto (VDA 5050 broker), chromium (browser
# tests), postgresql (multi-instance store tests), iproute2 (network-namespace link tests),
# npm (the web UI's chart library), a CJK font (Chinese labels).
# Installs only what is missing; needs root (or sudo) and apt-get, else says what to install.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)  # Chinese labels in screenshots
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: please install: ${need[*]} (no apt-get here)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "system-deps: run as root or install: ${need[*]}" >&2; exit 0; fi
fi
echo "system-deps: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
