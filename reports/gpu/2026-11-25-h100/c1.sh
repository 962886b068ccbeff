#!/usr/bin/env bash
# Call 1: 350m seq 1024, all five variants in one run (+ profiles of ours); then 125m seq 1024.
source .carry/prelude.sh
t0=$SECONDS
timeout 440 $B --sizes 350m --seqs 1024 --variants trainer,trainer_compiled,plain_accelerate,sanchaek,sanchaek_master \
  --profile-dir $RES --out $RES/train_350m_1024.json 2>&1 | $F
echo "== 350m/1024 took $((SECONDS-t0)) s"; pack
t0=$SECONDS
timeout $((580-SECONDS)) $B --sizes 125m --seqs 1024 --variants trainer,sanchaek,sanchaek_master --out $RES/train_125m_1024.json 2>&1 | $F
echo "== 125m/1024 took $((SECONDS-t0)) s"; pack
