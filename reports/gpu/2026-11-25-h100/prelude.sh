# Sourced by each device call of the 2026-11-25 H100 run: committed code from .carry/head.tar, carried wheels, data.
set -uo pipefail
REPO=$PWD; HEAD=/tmp/head; mkdir -p $HEAD && tar -xf .carry/head.tar -C $HEAD
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$HEAD/src HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
RES=/tmp/res; mkdir -p $RES /tmp/data
pack() { tar -czf $OUT/results.tar.gz -C $RES . ; }
[ -f /tmp/data/passages.jsonl ] || xz -dc .carry/passages.jsonl.xz > /tmp/data/passages.jsonl
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee $RES/card.txt
B="python3 $HEAD/bench/train_gpu.py --corpus /tmp/data/passages.jsonl --workdir /tmp/bw"
F="grep -v -i warn\|Loading.weights\|Writing.model"
