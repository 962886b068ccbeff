#!/usr/bin/env bash
# The 2026-11-30 H200 baseline run, call 3 (two H200s): the committed loss again (d2bd1de), Trainer's data cycled.
# GPU 0: 125m at seq 1024 and 2048, all rows against Trainer and Trainer + compile.
# GPU 1: the loss-curve check (125m, seq 1024, 300 steps), then 350m at seq 2048.
source .carry/prelude.sh
export TORCHINDUCTOR_COMPILE_THREADS=14
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl"
left() { echo $((480-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  timeout $(left) $BB --workdir /tmp/bw0 --sizes 125m --seqs 1024,2048 \
    --variants sanchaek_graphs,sanchaek_master,trainer,trainer_compiled --out $RES/train_125m.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout 250 $BB --workdir /tmp/bw1 --sizes "" --curve 125m:1024:300 --out $RES/curve.json 2>&1 | $F
  echo "== curve done at $SECONDS s"
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 350m --seqs 2048 \
    --variants sanchaek_master,trainer,trainer_compiled --out $RES/train_350m_2048.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
