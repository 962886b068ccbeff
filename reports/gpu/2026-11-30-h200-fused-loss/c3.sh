#!/usr/bin/env bash
# The 2026-11-30 H200 fused-loss run, call 3 (two H200s, right after call 2 on the same machine): FlashAttention 4.
# Joins the wheel's halves (call 2 left the first), installs flash-attn-4 and its CuTe-DSL runtime,
# times attention alone, then trains with train.attention: flash_attn_4 against Trainer and SDPA.
source .carry/prelude.sh
A=/tmp/fa4parts; [ -f $A/cu13.part00 ] || A=.fa4a
W=/tmp/fa4w; mkdir -p $W && cp $A/*.whl $W/ && cat $A/cu13.part00 .fa4b/cu13.part01 > $W/nvidia_cutlass_dsl_libs_cu13-4.8.1-cp312-cp312-manylinux_2_28_x86_64.whl
echo "$(cat .fa4b/cu13.sha256)  $W/nvidia_cutlass_dsl_libs_cu13-4.8.1-cp312-cp312-manylinux_2_28_x86_64.whl" | sha256sum -c - | tee $RES/fa4_install.txt
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $W/*.whl 2>&1 | tail -3 | tee -a $RES/fa4_install.txt
python3 -c "import flash_attn.cute.interface as i; print('flash_attn.cute ok')" 2>&1 | tail -3 | tee -a $RES/fa4_install.txt
export TORCHINDUCTOR_COMPILE_THREADS=14
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl"
left() { echo $((530-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  timeout 150 python3 $HEAD/bench/attention_gpu.py --out $RES/attention.json 2>&1 | $F | tail -12
  echo "== attention bench done at $SECONDS s"
  timeout $(left) $BB --workdir /tmp/bw0 --sizes 125m --seqs 1024 \
    --variants trainer,sanchaek_graphs_fa4,sanchaek_graphs,trainer_compiled \
    --out $RES/train_125m_1024_fa4.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 350m --seqs 1024 \
    --variants trainer,sanchaek_master_fa4,sanchaek_master,trainer_compiled \
    --out $RES/train_350m_1024_fa4.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
