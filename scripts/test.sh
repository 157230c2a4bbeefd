#!/usr/bin/env bash
# Sets up, then runs the whole test suite (the real-model end-to-end search included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# PostgreSQL backs the multi-worker store tests; start it if it is installed but down.
if command -v pg_ctlcluster >/dev/null && ! pg_isready -q -h 127.0.0.1 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if pg_isready -q -h 127.0.0.1 2>/dev/null; then export HPO_REQUIRE_POSTGRES=1; fi
# Dashboard browser tests drive Debian's Chromium (never a downloaded browser).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
    || echo "test.sh: could not install chromium; browser tests will be skipped"
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/ruff check hpo tests benchmarks examples
.venv/bin/mypy hpo
.venv/bin/python -m pytest -q "$@"
