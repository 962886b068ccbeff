#!/usr/bin/env bash
# Call 4: sanchaek train under DDP on 2 GPUs (accelerate launch, NCCL), bf16-master + compile, with a
# mid-run checkpoint: the multi-GPU path on real GPUs.
source .carry/prelude.sh
P=/tmp/p4; mkdir -p $P/data/processed && cd $P
python3 -c "
import json; rows=[json.loads(l) for l in open('/tmp/data/passages.jsonl')]
open('data/processed/val.jsonl','w').writelines(json.dumps({'text':r['text']},ensure_ascii=False)+'\n' for r in rows[:200])
open('data/processed/train.jsonl','w').writelines(json.dumps({'text':r['text']},ensure_ascii=False)+'\n' for r in rows[200:])"
cat > params.yaml <<'YAML'
model: {name_or_path: "scratch:125m", vocab_size: 32000, tokenizer_extra_text: null}
train: {seq_len: 1024, micro_batch_size: 16, grad_accum_steps: 1, max_steps: 60, warmup_steps: 10, lr: 0.001,
        mixed_precision: bf16-master, compile: true, log_every: 10, eval_every: 0, eval_max_blocks: 64,
        checkpoint_every: 30, resume: never}
YAML
export NCCL_NVLS_ENABLE=0
t0=$SECONDS
timeout 230 python3 -m accelerate.commands.launch --config_file $REPO/configs/accelerate/multi_gpu.yaml --num_processes 2 \
  -m sanchaek.cli train 2>&1 | $F | grep -v "^\s*$" | tail -25 | tee $RES/ddp2.log
echo "== ddp train took $((SECONDS-t0)) s"; ls models/checkpoints models/lm 2>&1 | tee -a $RES/ddp2.log; pack
