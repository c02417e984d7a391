#!/usr/bin/env bash
# Installs what Reel needs on a Debian/Ubuntu machine with Node.js 20+: ffmpeg (when missing), the npm
# dependencies, and the build. Safe to run again. With --test it also installs what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

need_major=20
have_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have_major" -lt "$need_major" ]; then
  echo "Reel needs Node.js $need_major or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "Please install these packages as root: $*" >&2
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "No apt-get here: install $* with your package manager, then run this again." >&2
    exit 1
  fi
  echo "Installing $* with apt-get…"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
if [ "${1:-}" = "--test" ]; then
  # The browser tests drive Debian's Chromium (no browser download is needed).
  command -v chromium >/dev/null || missing+=(chromium)
  # The edge test runs Debian's nginx (not always on a non-root PATH: look for the binary itself).
  [ -x /usr/sbin/nginx ] || missing+=(nginx)
fi
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
