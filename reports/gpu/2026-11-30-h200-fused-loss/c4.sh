#!/usr/bin/env bash
# The 2026-11-30 H200 fused-loss run, call 4 (same machine as call 3, whose flash-attn-4 install stays in /tmp/site): the
# CuTe DSL's own path (its .pth file, which --target installs do not run) added, then FA4 timed.
source .carry/prelude.sh
export PYTHONPATH=$PYTHONPATH:/tmp/site/nvidia_cutlass_dsl/dsl_packages
python3 -c "import flash_attn.cute.interface; print('flash_attn.cute ok')" 2>&1 | tail -2
export TORCHINDUCTOR_COMPILE_THREADS=14
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl"
left() { echo $((420-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  timeout 120 python3 $HEAD/bench/attention_gpu.py --out $RES/attention.json 2>&1 | $F | tail -12
  echo "== attention bench done at $SECONDS s"
  timeout $(left) $BB --workdir /tmp/bw0 --sizes 125m --seqs 1024 \
    --variants trainer,sanchaek_graphs_fa4,sanchaek_graphs --out $RES/train_125m_1024_fa4.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 350m --seqs 1024 \
    --variants trainer,sanchaek_master_fa4,sanchaek_master --out $RES/train_350m_1024_fa4.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
