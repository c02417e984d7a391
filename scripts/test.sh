#!/usr/bin/env bash
# Installs what the tests need and runs all of them: lint and format (Biome), the type check, and the
# Vitest suite (real ffmpeg, PGlite, and the Postgres server at 127.0.0.1:5432 or REEL_TEST_POSTGRES_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
npm test
