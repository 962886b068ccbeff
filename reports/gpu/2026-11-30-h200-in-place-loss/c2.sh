#!/usr/bin/env bash
# The 2026-11-30 H200 in-place-loss run, call 2 (same machine, right after call 1): FlashAttention 4's wheels joined and
# installed (call 1 left the first half), then GPU 0: the loss-curve check with FA4 among the modes;
# GPU 1: 350m at seq 1024 and 2048 with FA4 against Trainer and SDPA.
source .carry/prelude.sh
A=/tmp/fa4parts; [ -f $A/cu13.part00 ] || { echo "no first half: call 1 ran on another machine"; exit 3; }
W=/tmp/fa4w; mkdir -p $W && cp $A/*.whl $W/ && cat $A/cu13.part00 .fa4b/cu13.part01 > $W/nvidia_cutlass_dsl_libs_cu13-4.8.1-cp312-cp312-manylinux_2_28_x86_64.whl
echo "$(cat .fa4b/cu13.sha256)  $W/nvidia_cutlass_dsl_libs_cu13-4.8.1-cp312-cp312-manylinux_2_28_x86_64.whl" | sha256sum -c - | tee $RES/fa4_install.txt
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $W/*.whl 2>&1 | tail -3 | tee -a $RES/fa4_install.txt
export PYTHONPATH=$PYTHONPATH:/tmp/site/nvidia_cutlass_dsl/dsl_packages
python3 -c "import flash_attn.cute.interface; print('flash_attn.cute ok')" 2>&1 | tail -2 | tee -a $RES/fa4_install.txt
export TORCHINDUCTOR_COMPILE_THREADS=14
BB="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl"
left() { echo $((540-SECONDS)); }
(
  export CUDA_VISIBLE_DEVICES=0
  timeout $(left) $BB --workdir /tmp/bw0 --sizes "" --curve 125m:1024:300 \
    --curve-modes autocast_eager,master_compiled,master_compiled_fa4 --out $RES/curve.json 2>&1 | $F
  echo "== GPU0 done at $SECONDS s"
) > $RES/gpu0.log 2>&1 &
(
  export CUDA_VISIBLE_DEVICES=1
  timeout $(left) $BB --workdir /tmp/bw1 --sizes 350m --seqs 1024,2048 \
    --variants trainer,sanchaek_master_fa4,sanchaek_master \
    --out $RES/train_350m_fa4.json 2>&1 | $F
  echo "== GPU1 done at $SECONDS s"
) > $RES/gpu1.log 2>&1 &
wait
cat $RES/gpu0.log $RES/gpu1.log
pack
