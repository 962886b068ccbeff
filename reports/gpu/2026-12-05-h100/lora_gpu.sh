#!/bin/bash
# GPU runs of bench/lora_gpu.py and bench/loss_gpu.py; PARTS picks which, in order; each writes its JSON as it goes.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import pydantic, torch, transformers, peft, bitsandbytes, accelerate; print(torch.__version__, transformers.__version__, peft.__version__, bitsandbytes.__version__, accelerate.__version__)"
B="python3 bench/lora_gpu.py --corpus works.jsonl --tokenizer tok32k --workdir /tmp/lora-bench --out $OUT/lora_gpu.json --warmup ${WARMUP:-4} --steps ${STEPS:-10}"
for part in $PARTS; do
  echo "== $part $(date +%T)"
  case $part in
    lora8b) $B --rows 8b:lora:2 ;;
    qlora12b) $B --rows 12.8b:qlora:1 ;;
    gen8b) $B --rows "" --generate 8b ;;
    full1b) $B --rows 1b:full:4 ;;
    curve) $B --rows "" --curve 1b:4:48 ;;
    losslib) python3 bench/loss_gpu.py --tokens 4096 --vocab 128256 --hidden 4096 --libraries --out $OUT/loss_gpu_libraries.json ;;
  esac
done 2>&1 | tee $OUT/log.txt
