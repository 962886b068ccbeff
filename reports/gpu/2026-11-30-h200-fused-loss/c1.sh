#!/usr/bin/env bash
# The 2026-11-30 H200 fused-loss run, call 1 (two H200s): the fused head + loss kernel (13e1f80).
# GPU 0: its CUDA tests, the loss bench with the kernel sweep, then 125m seq 1024 fused vs unfused vs Trainer.
# GPU 1: the loss-curve check (unoptimised path against the fused, compiled ones), then 350m seq 1024.
source .carry/prelude.sh
export TORCHINDUCTOR_COMPILE_THREADS=14
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl"
left() { echo $((540-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  (cd $HEAD && timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_fused_ce.py 2>&1 | tail -15)
  echo "== tests done at $SECONDS s"
  timeout 150 python3 $HEAD/bench/loss_gpu.py --hidden 768 --sweep --out $RES/loss_768.json 2>&1 | $F | tail -60
  echo "== loss bench done at $SECONDS s"
  timeout $(left) $BB --workdir /tmp/bw0 --sizes 125m --seqs 1024 \
    --variants trainer,trainer_compiled,sanchaek_graphs,sanchaek_graphs_unfused,sanchaek_master,sanchaek_master_unfused \
    --out $RES/train_125m_1024.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout 250 $BB --workdir /tmp/bw1 --sizes "" --curve 125m:1024:300 --out $RES/curve.json 2>&1 | $F
  echo "== curve done at $SECONDS s"
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 350m --seqs 1024 \
    --variants trainer,sanchaek_master,sanchaek_master_unfused \
    --out $RES/train_350m_1024.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
