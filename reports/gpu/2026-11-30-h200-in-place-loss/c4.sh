#!/usr/bin/env bash
# The 2026-11-30 H200 in-place-loss run, call 4 (two H200s): issue #8, multi-GPU. bench/multigpu.py runs the train stage under
# accelerate launch: 350m on 1 GPU and on 2 (DDP), global batch 32, 200 steps with val loss every 50;
# 1b on 1 GPU and on 2 under FSDP (speed and memory). The two 1-GPU runs go side by side.
source .carry/prelude.sh
export TORCHINDUCTOR_COMPILE_THREADS=14
timeout 510 python3 $HEAD/bench/multigpu.py --corpus /tmp/data/passages.jsonl --workdir /tmp/mg \
  --size 350m --fsdp-size 1b --gpus 1,2 --global-batch 32 --steps 200 --eval-every 50 \
  --out $OUT/multigpu.json 2>&1 | $F | grep -v "^\s*$" | tail -30
for f in /tmp/mg/*.log; do echo "== $f"; grep -v -i "warn" $f | tail -6; done
mkdir -p $RES/logs && cp /tmp/mg/*.log $RES/logs/ 2>/dev/null
pack
