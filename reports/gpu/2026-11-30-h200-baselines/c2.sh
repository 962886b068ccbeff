#!/usr/bin/env bash
# The 2026-11-30 H200 baseline run, call 2 (two H200s of one host, one model per GPU, each row's variants in turn on its GPU):
# the loss with the one-pass logsumexp (9590946): the loss microbench, then every row at seq 1024 and
# 2048 against Trainer and Trainer + compile.
source .carry/prelude.sh
export TORCHINDUCTOR_COMPILE_THREADS=14
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl --profile-dir $RES"
left() { echo $((565-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  timeout 100 python3 $HEAD/bench/loss_gpu.py --out $RES/loss_gpu.json 2>&1 | $F
  timeout $(left) $BB --workdir /tmp/bw0 --sizes 125m --seqs 1024,2048 \
    --variants sanchaek_master,sanchaek_graphs,trainer,trainer_compiled --out $RES/train_125m.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 350m --seqs 1024,2048 \
    --variants sanchaek_master,trainer,trainer_compiled --out $RES/train_350m.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
