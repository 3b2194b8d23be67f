#!/usr/bin/env bash
# The README's first command: from a fresh clone to a Ready multi-node lab.
#
#   bash scripts/lab-up.sh [--nodes N] [--ha] [--no-build] [--api-port P]
#
# 1. installs what the machine lacks (python3-venv, docker-compose, and for the
#    image build mmdebstrap + debian-archive-keyring), with apt as root or via sudo
#    (the Docker engine itself must be there already);
# 2. installs kubelab into .venv (pip, editable);
# 3. runs what `kubelab cluster up` runs (lab/compose.py): builds missing or stale
#    images with images/build.py, starts compose.yaml with `docker compose` or
#    docker-compose, waits until every node is Ready, prints what to do next.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '%s\n' "$*"; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

if ! command -v docker >/dev/null 2>&1; then
  say "error: docker is not installed (on Debian: sudo apt-get install docker.io)" >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  say "error: cannot talk to the Docker engine (is it running? is $(id -un) in the docker group?)" >&2
  exit 1
fi

need=()
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  need+=(docker-compose)
fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need+=(python3-venv)
fi
if ! docker image inspect kubelab/base:latest >/dev/null 2>&1; then
  command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
fi
if [ ${#need[@]} -gt 0 ]; then
  say "--- installing ${need[*]} (apt)"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "error: kubelab needs Python 3.11 or newer (this is $(python3 --version))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  say "--- creating .venv"
  python3 -m venv .venv
fi
say "--- installing kubelab into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e .

.venv/bin/python -m lab.compose up "$@"

case ":$PATH:" in
  *":$PWD/.venv/bin:"*) ;;
  *) say "(the CLI is in .venv/bin: export PATH=\"$PWD/.venv/bin:\$PATH\")" ;;
esac
