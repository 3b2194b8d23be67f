#!/usr/bin/env bash
# Runs every test tier: unit, integration (real etcd + component processes), e2e (the compose lab).
# Installs what a fresh machine lacks: etcd and (for the dashboard's browser test) chromium with its
# WebDriver from Debian's packages, and kubelab with its test dependencies in a virtualenv (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v etcd >/dev/null 2>&1; then
  echo "--- installing etcd (Debian's etcd-server)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-server etcd-client >/dev/null
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "--- installing chromium and chromium-driver (Debian's; the dashboard's browser test)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "--- creating .venv"
  python3 -m venv .venv
fi
echo "--- installing kubelab and test dependencies"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
export PATH="$PWD/.venv/bin:$PATH"

echo "--- generated code is up to date"
python scripts/genproto.py --check

tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(unit integration e2e)
for tier in "${tiers[@]}"; do
  echo "--- tests/$tier"
done
paths=()
for tier in "${tiers[@]}"; do paths+=("tests/$tier"); done
python -m pytest -p no:cacheprovider -q -ra --timeout=900 "${paths[@]}"
