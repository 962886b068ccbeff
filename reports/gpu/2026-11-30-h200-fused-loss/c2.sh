#!/usr/bin/env bash
# The 2026-11-30 H200 fused-loss run, call 2 (two H200s): the three-pass loss kernel (570e912) at seq 2048; also leaves the
# first half of the FlashAttention 4 wheels on the machine for call 3 (.fa4a, copied to /tmp/fa4parts).
source .carry/prelude.sh
mkdir -p /tmp/fa4parts && cp .fa4a/* /tmp/fa4parts/ && ls /tmp/fa4parts | tee $RES/fa4parts.txt
export TORCHINDUCTOR_COMPILE_THREADS=14
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl"
left() { echo $((530-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  (cd $HEAD && timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_fused_ce.py 2>&1 | tail -4)
  echo "== tests done at $SECONDS s"
  timeout 120 python3 $HEAD/bench/loss_gpu.py --hidden 768 --sweep --out $RES/loss_768.json 2>&1 | $F | grep -v '^ ' | tail -30
  echo "== loss bench done at $SECONDS s"
  timeout $(left) $BB --workdir /tmp/bw0 --sizes 125m --seqs 2048 \
    --variants trainer,trainer_compiled,sanchaek_graphs,sanchaek_graphs_unfused \
    --out $RES/train_125m_2048.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 350m --seqs 2048 \
    --variants trainer,sanchaek_master,sanchaek_master_unfused,trainer_compiled \
    --out $RES/train_350m_2048.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
