#!/usr/bin/env bash
# The GPU proof run: the whole pipeline from index to compose on the device (params-gpu.yaml).
set -euo pipefail
REPO=$PWD
PARAMS=${PARAMS:-$REPO/.carry/params-gpu.yaml}
export PYTHONPATH=/tmp/site:${SRC:-$REPO/src} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
if [ -f .carry/minjre.tar.xz ] && [ -z "${KEEP_JAVA:-}" ]; then tar -xJf .carry/minjre.tar.xz -C /tmp && export JAVA_HOME=/tmp/minjre; fi
P=${P:-/tmp/p}; rm -rf $P; RES=${RES:-$OUT}; mkdir -p $P/data/interim $RES/gpu; cd $P
cp -r $REPO/.carry/jars $REPO/.carry/klue-re . && cp $PARAMS params.yaml
xz -dc $REPO/.carry/passages.jsonl.xz > data/interim/passages.jsonl
xz -dc $REPO/.carry/klue-text.jsonl.xz > klue-text.jsonl
stage() { echo "== sanchaek $1 ($(date +%T))"; local t0=$SECONDS; python3 -m sanchaek.cli "$1"; echo "== $1 took $((SECONDS - t0)) s"; }
collect() {  # after every stage: a later failure must not lose what earlier stages measured
  cp params.yaml $RES/gpu/params-gpu.yaml
  cp models/lm/sanchaek_train.json $RES/gpu/train_meta.json 2>/dev/null || true
  cp reports/eval.json reports/generate.json reports/work.md reports/work.json $RES/gpu/ 2>/dev/null || true
  [ -f reports/samples.jsonl ] && head -n 6 reports/samples.jsonl > $RES/gpu/samples_head.jsonl || true
}
for st in index query train evaluate generate compose; do stage $st; collect; done
