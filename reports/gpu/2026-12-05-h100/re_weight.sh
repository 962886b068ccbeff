#!/bin/bash
# bench/re_weight.py on the GPU: scratch:125m on the whole corpus, re_weight 0 vs 0.2, one process per
# seed side by side on the one GPU (each ~10 GiB; timings are not what this bench reports).
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=4
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee $OUT/log.txt
for s in 1 2 3; do
  rm -rf run$s && cp -r run run$s
  timeout -k 10 ${LIMIT:-480} python3 bench/re_weight.py --params bench/re_weight_gpu.yaml --root run$s --seeds $s --weights 0 0.2 --out $OUT/re_weight_seed$s.json > $OUT/log_seed$s.txt 2>&1 &
done
wait
date +%T >> $OUT/log.txt
tail -n 4 $OUT/log_seed*.txt
