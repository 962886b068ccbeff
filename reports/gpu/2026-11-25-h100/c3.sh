#!/usr/bin/env bash
# Call 3: compose on the GPU (one static cache for all beats), the search bench on 16 cores, 125m seq 2048.
source .carry/prelude.sh
tar -xJf .carry/minjre.tar.xz -C /tmp && export JAVA_HOME=/tmp/minjre
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .carry-search/*.whl && tar -xJf .carry-search/mecabdic.tar.xz -C /tmp/site
P=/tmp/p; mkdir -p $P/data/interim && cd $P
cp -r $REPO/.carry/jars $REPO/.carry/klue-re . && cp $REPO/.carry/params-gpu.yaml params.yaml
cp /tmp/data/passages.jsonl data/interim/passages.jsonl
xz -dc $REPO/.carry/klue-text.jsonl.xz > klue-text.jsonl
t0=$SECONDS
python3 -m sanchaek.cli index && python3 -m sanchaek.cli query || exit 1
python3 -c "
from sanchaek.io import read_jsonl; from sanchaek.model.scratch import save_scratch
save_scratch([r['text'] for r in read_jsonl('data/interim/passages.jsonl')], '125m', 32000, 'models/lm', seed=0)" 2>&1 | $F
t1=$SECONDS; timeout 200 python3 -m sanchaek.cli compose 2>&1 | $F | tee $RES/compose.log | tail -15
echo "== compose wall $((SECONDS-t1)) s (index+query+model $((t1-t0)) s)"; cp reports/work.md $RES/work_untrained.md; pack
cd $REPO; mkdir -p $HEAD/data/interim && cp /tmp/data/passages.jsonl $HEAD/data/interim/
sed -i "s#lucene_jar_dir: /usr/share/java#lucene_jar_dir: $P/jars#" $HEAD/params.yaml
t0=$SECONDS
timeout 260 python3 $HEAD/bench/search.py --index-threads 16 --out $RES/search_16.json 2>&1 | $F | cut -c1-400
echo "== search bench took $((SECONDS-t0)) s"; pack
t0=$SECONDS
timeout $((585-SECONDS)) $B --sizes 125m --seqs 2048 --warmup 10 --steps 20 --variants trainer,sanchaek,sanchaek_master --out $RES/train_125m_2048.json 2>&1 | $F
echo "== 125m/2048 took $((SECONDS-t0)) s"; pack
