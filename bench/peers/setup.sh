#!/usr/bin/env bash
# Create the peer virtual environments (Joey NMT 2.3.0, OpenNMT-py 3.5.1), patched for
# current torch, without letting pip replace torch.
#
#   bash bench/peers/setup.sh                       # here: PyPI, torch==2.13.0 (CPU) in each venv
#   bash bench/peers/setup.sh --wheels DIR          # GPU machine: offline from DIR (wheels.sh),
#                                                   # reusing the interpreter's own torch
# Options: --dest DIR (default bench/scratch/venvs)  --python PY (default python3)
#          --torch SPEC (online only, default torch==2.13.0)  --only joey|onmt
#
# Why it is done this way:
# - OpenNMT-py 3.5.1 pins torch<2.3: a plain `pip install opennmt-py` silently uninstalls
#   the installed torch and downloads torch 2.2 + ~2 GB of nvidia wheels. Toolkits are
#   therefore installed with --no-deps, their needed dependencies named one by one
#   (packages.sh).
# - Offline, the venv sees the interpreter's packages (--system-site-packages). When that
#   interpreter is itself a venv (the GPU machine's python3 is /opt/torch/.venv), a new
#   venv would only see the *base* Python's site-packages, without torch: a .pth file adds
#   the parent venv's site-packages after the venv's own.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=packages.sh
source "$HERE/packages.sh"

DEST=$ROOT/bench/scratch/venvs
PY=python3
TORCH=torch==2.13.0
WHEELS=
PEERS=(joey onmt)
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) DEST=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --torch) TORCH=$2; shift 2 ;;
    --wheels) WHEELS=$(cd "$2" && pwd); shift 2 ;;
    --only) PEERS=("$2"); shift 2 ;;
    *) echo "setup.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

parent_sites() {  # site-packages of $PY when it is a venv (else nothing)
  "$PY" -c 'import site, sys
if sys.prefix != sys.base_prefix:
    print("\n".join(site.getsitepackages()))'
}

make_venv() {  # make_venv DIR
  local venv=$1
  rm -rf "$venv"
  if [ -n "$WHEELS" ]; then
    "$PY" -m venv --without-pip --system-site-packages "$venv"
    local site
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    parent_sites | while read -r dir; do
      echo "import site; site.addsitedir('$dir')"
    done > "$site/_nmt_bench_parent.pth"
    "$venv/bin/python" -m pip --version > /dev/null 2>&1 \
      || { echo "setup.sh: no pip reachable from $venv (install pip for $PY)" >&2; exit 1; }
  else
    "$PY" -m venv "$venv"
    "$venv/bin/python" -m pip install -q "$TORCH"
  fi
}

install() {  # install VENV BASE_ARRAY_NAME PKG_ARRAY_NAME
  local pip=("$1/bin/python" -m pip install -q --disable-pip-version-check)
  local -n base=$2 pkgs=$3
  if [ -n "$WHEELS" ]; then
    "${pip[@]}" --no-index --find-links "$WHEELS" --no-deps --ignore-installed "${pkgs[@]}"
  else
    "${pip[@]}" "${base[@]}"
    "${pip[@]}" --no-deps "${pkgs[@]}"
  fi
}

for peer in "${PEERS[@]}"; do
  venv=$DEST/$peer
  echo "== $peer -> $venv"
  make_venv "$venv"
  case "$peer" in
    joey)
      install "$venv" JOEY_BASE JOEY_PKGS
      (cd "$HERE/../.." && "$venv/bin/python" -m bench.peers.patch_joey)
      check='import joeynmt.training, joeynmt.prediction' ;;
    onmt)
      install "$venv" ONMT_BASE ONMT_PKGS
      (cd "$HERE/../.." && "$venv/bin/python" -m bench.peers.patch_onmt)
      check='import onmt.bin.train, onmt.bin.translate' ;;
    *) echo "setup.sh: unknown peer $peer (joey|onmt)" >&2; exit 2 ;;
  esac
  "$venv/bin/python" -W ignore -c "$check
import importlib.metadata as md, sys, torch
name = {'joey': 'joeynmt', 'onmt': 'OpenNMT-py'}['$peer']
print(f'$peer ok: {name} {md.version(name)}, torch {torch.__version__}, python {sys.version.split()[0]}')"
done
