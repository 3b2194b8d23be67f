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

# One pytest run per tier, each tier run whatever the one before gave; the script fails if any did.
# The integration tier runs on two pytest-xdist workers, a test file at a time on one worker
# (`--dist loadfile`: a module's cluster fixture and its tests' order stay as written): each module starts
# its own control plane (free ports, its own temp state dir and etcd data, each worker its own $KUBECONFIG),
# and most of the tier's time is waiting on those processes, so two files at once nearly halve it on two
# cores. The e2e tier never: it has one lab with fixed names and ports. KUBELAB_TEST_WORKERS=0 runs the
# integration tier in one process, as before.
workers="${KUBELAB_TEST_WORKERS:-2}"
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(unit integration e2e)
status=0
for tier in "${tiers[@]}"; do
  echo "--- tests/$tier"
  parallel=()
  if [ "$tier" = integration ] && [ "$workers" != 0 ]; then
    parallel=(-n "$workers" --dist loadfile)
  fi
  start=$SECONDS
  python -m pytest -p no:cacheprovider -q -ra --timeout=900 "${parallel[@]}" "tests/$tier" || status=$?
  echo "--- tests/$tier took $((SECONDS - start))s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
done
exit $status
