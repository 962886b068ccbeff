#!/usr/bin/env bash
# Call 2: 350m seq 2048, all five variants in one run; then the loss-curve check at 125m seq 1024.
source .carry/prelude.sh
t0=$SECONDS
timeout 420 $B --sizes 350m --seqs 2048 --warmup 10 --steps 20 \
  --variants trainer,trainer_compiled,plain_accelerate,sanchaek,sanchaek_master --out $RES/train_350m_2048.json 2>&1 | $F
echo "== 350m/2048 took $((SECONDS-t0)) s"; pack
t0=$SECONDS
timeout $((585-SECONDS)) $B --sizes "" --curve 125m:1024:300 --out $RES/train_curve.json 2>&1 | $F
echo "== curve took $((SECONDS-t0)) s"; pack
