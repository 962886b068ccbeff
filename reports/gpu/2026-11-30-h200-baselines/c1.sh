#!/usr/bin/env bash
# The 2026-11-30 H200 baseline run, call 1 (two H200s of one host, one row per GPU, each row's variants in turn on its GPU):
# GPU 0: the loss microbench, then 125m seq 1024; GPU 1: 350m seq 1024. Each row: ours (with the
# compiled token_cross_entropy), Trainer, Trainer + compile, then max-autotune last (it may not fit).
source .carry/prelude.sh
export TORCHINDUCTOR_COMPILE_THREADS=14
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | tee $RES/cards.txt
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl --profile-dir $RES"
left() { echo $((570-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  timeout 90 python3 $HEAD/bench/loss_gpu.py --out $RES/loss_gpu.json 2>&1 | $F
  timeout $(left) $BB --workdir /tmp/bw0 --sizes 125m --seqs 1024 \
    --variants sanchaek_master,sanchaek_graphs,trainer,trainer_compiled,sanchaek_autotune \
    --out $RES/train_125m_1024.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 350m --seqs 1024 \
    --variants sanchaek_master,trainer,trainer_compiled,sanchaek_autotune \
    --out $RES/train_350m_1024.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
