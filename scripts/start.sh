#!/usr/bin/env bash
# The quick start: install what is missing, build, and run every role of Reel in one process on its
# embedded defaults (PGlite and files under ./data, port 8080). Extra arguments go to `reel serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/reel.js serve "$@"
