#!/bin/bash
# GPU rows of bench/lora_gpu.py and bench/dpo_gpu.py, run from the repository root:
#   PARTS="lora8b gen8b" bash .carry-g/gpu.sh
# Each part is bounded so that the whole command ends inside the 600 s a command may run.
set -o pipefail
C=.carry-g
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $C/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/bench PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
{
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
B="python3 bench/lora_gpu.py --corpus $C/passages.jsonl --tokenizer $C/tok30k --workdir /tmp/lora-bench --out $OUT/lora_gpu.json --warmup 4 --steps 10"
for part in $PARTS; do
  echo "== $part $(date +%T)"
  case $part in
    lora8b) timeout -k 10 ${T8B:-330} $B --rows 8b:lora:2 --compile-scope blocks ;;
    lora1bblocks) timeout -k 10 120 $B --rows 1b:lora:4 --compile-scope blocks ;;
    full1b) timeout -k 10 140 $B --rows 1b:full:4 ;;
    curve) timeout -k 10 ${TCURVE:-170} $B --rows "" --curve 1b:4:48 --curve-seeds ${SEEDS:-1} ;;
    qlora12b) timeout -k 10 ${T12B:-330} $B --rows 12.8b:qlora:1 --compile-scope blocks ;;
    gen8b) timeout -k 10 ${TGEN:-220} $B --rows "" --generate 8b --gen-variants ${GENV:-base} --profile ${GENPROF:-0} ${NOHF:+--no-gen-baselines} ;;
    lora8bliger) timeout -k 10 ${T8B:-560} $B --rows 8b:lora:2 --compile-scope blocks --liger ;;
    lora8bprof) timeout -k 10 ${T8B:-400} $B --rows 8b:lora:2 --compile-scope blocks --profile 3 ;;
    topk) timeout -k 10 ${TTOPK:-90} python3 $C/topk_probe.py ;;
    pytest) timeout -k 10 ${TPY:-150} python3 -m pytest -q -p no:cacheprovider ${PYTESTS:-tests/test_prompt_graphs.py} ;;
    dpo) timeout -k 10 ${TDPO:-300} python3 bench/dpo_gpu.py --corpus $C/passages.jsonl --workdir /tmp/dpo-bench --warmup 5 --steps 20 --out $OUT/dpo_gpu.json ;;
  esac
  echo "== $part rc $? $(date +%T)"
  # GENCODE=1: keep Inductor's generated modules (the decode step's kernels) to read them offline
  if [ -n "$GENCODE" ] && [ "$part" = gen8b ]; then
    find /tmp/torchinductor_* -maxdepth 2 -name "c*.py" -size +100k -print0 | tar czf $OUT/inductor_code.tgz --null -T -
  fi
done
echo "== end $(date +%T)"
} 2>&1 | tee $OUT/log.txt
