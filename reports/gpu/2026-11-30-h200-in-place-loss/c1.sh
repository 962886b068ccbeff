#!/usr/bin/env bash
# The 2026-11-30 H200 in-place-loss run, call 1 (two H200s): the loss kernel writing its gradient over the logits (4592864).
# GPU 0: the fused-loss GPU tests, the loss bench at the 350m width (sweep included), then 350m seq
# 1024 against Trainer, fused and unfused. GPU 1: 125m at seq 1024 and 2048, fused and unfused.
# Also leaves the first half of the FlashAttention 4 wheels on the machine for call 2.
source .carry/prelude.sh
mkdir -p /tmp/fa4parts && cp .fa4a/* /tmp/fa4parts/ && ls /tmp/fa4parts > $RES/fa4parts.txt
export TORCHINDUCTOR_COMPILE_THREADS=14
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl"
left() { echo $((530-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  (cd $HEAD && timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_fused_ce.py 2>&1 | tail -6)
  echo "== tests done at $SECONDS s"
  timeout 120 python3 $HEAD/bench/loss_gpu.py --hidden 1024 --sweep --out $RES/loss_1024.json 2>&1 | $F | grep -v '^ ' | tail -30
  echo "== loss bench done at $SECONDS s"
  timeout $(left) $BB --workdir /tmp/bw0 --sizes 350m --seqs 1024 \
    --variants trainer,sanchaek_master,sanchaek_master_unfused \
    --out $RES/train_350m_1024.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 125m --seqs 1024,2048 \
    --variants trainer,sanchaek_graphs,sanchaek_graphs_unfused \
    --out $RES/train_125m.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
