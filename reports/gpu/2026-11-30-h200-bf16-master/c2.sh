#!/usr/bin/env bash
# Call 2: with Llama's q/k/v and gate/up projections fused (speed.fuse_llama_projections): 125m and
# 350m at seq 1024 against Trainer again, and the loss-curve check of the optimised paths.
source .carry/prelude.sh  # reports/gpu/2026-11-25-h100/prelude.sh, unchanged
t0=$SECONDS
timeout 220 $B --sizes 125m --seqs 1024 --variants sanchaek_master,sanchaek_graphs,trainer \
  --profile-dir $RES --out $RES/train_125m_1024.json 2>&1 | $F
echo "== 125m/1024 took $((SECONDS-t0)) s"; pack
t0=$SECONDS
timeout 200 $B --sizes 350m --seqs 1024 --variants sanchaek_master,trainer \
  --profile-dir $RES --out $RES/train_350m_1024.json 2>&1 | $F
echo "== 350m/1024 took $((SECONDS-t0)) s"; pack
t0=$SECONDS
timeout $((585-SECONDS)) $B --sizes "" --curve 125m:1024:300 --out $RES/curve.json 2>&1 | $F
echo "== curve took $((SECONDS-t0)) s"; pack
