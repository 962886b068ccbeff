#!/usr/bin/env bash
# Call 1: 125m and 350m at seq 1024: Trainer (+ compile at 125m) against ours, bf16-master with the
# one-pass MasterAdamW, with and without CUDA graphs; profiles of ours.
source .carry/prelude.sh  # reports/gpu/2026-11-25-h100/prelude.sh, unchanged
t0=$SECONDS
timeout 290 $B --sizes 125m --seqs 1024 --variants sanchaek_master,sanchaek_graphs,trainer,trainer_compiled \
  --profile-dir $RES --out $RES/train_125m_1024.json 2>&1 | $F
echo "== 125m/1024 took $((SECONDS-t0)) s"; pack
t0=$SECONDS
timeout $((585-SECONDS)) $B --sizes 350m --seqs 1024 --variants sanchaek_master,sanchaek_graphs,trainer \
  --profile-dir $RES --out $RES/train_350m_1024.json 2>&1 | $F
echo "== 350m/1024 took $((SECONDS-t0)) s"; pack
