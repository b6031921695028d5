#!/usr/bin/env bash
# Download, here where PyPI is reachable, the wheels the offline GPU machine needs on top of
# its image (Python 3.12, torch 2.11, numpy, pyyaml, sentencepiece, sacrebleu, tensorboard,
# matplotlib, pyarrow, pandas, typer, rich, ...): the two peers (packages.sh) and what the
# nmt package lacks there (datasets, dill, multiprocess). Never torch or nvidia-*.
#
#   bash bench/peers/wheels.sh                       # -> bench/scratch/wheels (git-ignored)
#   bash bench/peers/wheels.sh --python-version 3.11 --dest DIR   # same set for this machine
#
# Everything is --no-deps: each needed dependency is named in packages.sh. The folder
# travels to the GPU machine with the device tool's `carry` (64 MiB with the working tree).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=packages.sh
source "$HERE/packages.sh"

DEST=$ROOT/bench/scratch/wheels
PYVER=3.12
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) DEST=$2; shift 2 ;;
    --python-version) PYVER=$2; shift 2 ;;
    *) echo "wheels.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

mkdir -p "$DEST"
PLATFORMS=()
for p in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
  PLATFORMS+=(--platform "${p}_x86_64")
done
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version "$PYVER" --implementation cp "${PLATFORMS[@]}" -d "$DEST" \
  "${ONMT_PKGS[@]}" "${JOEY_PKGS[@]}" "${NMT_GPU_PKGS[@]}"

# One version of each package: two make the offline install fail.
dupes=$(ls "$DEST"/*.whl | xargs -n1 basename | cut -d- -f1 | tr 'A-Z-' 'a-z_' | sort | uniq -d)
[ -z "$dupes" ] || { echo "wheels.sh: several versions of: $dupes (clean $DEST)" >&2; exit 1; }
ls -l "$DEST"
du -sh "$DEST"
