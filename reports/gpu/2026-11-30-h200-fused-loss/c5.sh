#!/usr/bin/env bash
# The 2026-11-30 H200 fused-loss run, call 5 (same machine as calls 3-4, whose flash-attn-4 install stays in /tmp/site): the
# CuTe DSL's own path (its .pth file, which --target installs do not run) added, then FA4 at seq 2048.
source .carry/prelude.sh
export PYTHONPATH=$PYTHONPATH:/tmp/site/nvidia_cutlass_dsl/dsl_packages
python3 -c "import flash_attn.cute.interface; print('flash_attn.cute ok')" 2>&1 | tail -2
export TORCHINDUCTOR_COMPILE_THREADS=14
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl"
left() { echo $((330-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  timeout $(left) $BB --workdir /tmp/bw0 --sizes 125m --seqs 2048 \
    --variants trainer,sanchaek_graphs_fa4 --out $RES/train_125m_2048_fa4.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 350m --seqs 2048 \
    --variants trainer,sanchaek_master_fa4 --out $RES/train_350m_2048_fa4.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
