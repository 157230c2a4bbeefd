#!/usr/bin/env bash
# Sets up, then runs the demo search: MiniLM-L6 fine-tuned on Rotten Tomatoes, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
HPO=.venv/bin/hpo
$HPO validate search_spaces/text_finetune.yaml
$HPO run search_spaces/text_finetune.yaml --study rt-demo --trials 12
$HPO studies
$HPO show rt-demo
$HPO best rt-demo --format yaml
