"""Search benchmark: embedded Lucene + Nori vs. the baselines a user would otherwise write.

In ONE run, at corpus size and at N synthetic passages (corpus sentences recombined):
  * embedded  — sanchaek's Lucene/Nori backend (JPype): indexing passages/s, query p50/p95 (k=10, with highlight)
  * rank_bm25 — BM25Okapi over whitespace tokens (the naive baseline)
  * bm25s+mecab — mecab-ko (mecab-ko-dic) morphemes with Nori-like stoptags, scored by bm25s
plus recall of inflected forms on a small labelled set (our own sentences) where whitespace tokens miss,
themes in dictionary form searched as the query stage does (query.expand_predicates on, and off for
comparison), with false positives counted over distractors and near misses.
Writes reports/bench/search.json. Usage: python bench/search.py [--synthetic 100000] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sanchaek.config import load_params  # noqa: E402
from sanchaek.config.search import ThemeParams  # noqa: E402
from sanchaek.paths import Layout  # noqa: E402
from sanchaek.query import search_theme  # noqa: E402
from sanchaek.search import ThemeQuery  # noqa: E402
from sanchaek.search.embedded import EmbeddedBackend  # noqa: E402
from sanchaek.search.inflect import expand_query  # noqa: E402

QUERIES = [
    "죽음", "담대하다", "엄마", "어머니", "사랑", "바다", "슬픔", "눈물", "걸었다", "학교",
    "고향", "겨울 밤", "봄바람", "아버지의 얼굴", "기차", "편지를 썼다", "꿈", "가난", "술", "거리",
]  # fmt: skip

# (query in dictionary form, relevant sentences with inflected forms); our own sentences.
LABELLED = [
    ("담대하다", ["그는 담대한 사람이었다.", "그녀는 끝까지 담대했다.", "담대하게 웃으며 돌아섰다."]),
    ("죽음", ["오늘 엄마가 죽었다.", "죽은 새를 마당에 묻어 주었다.", "나무가 천천히 죽어 갔다."]),
    ("걷다", ["우리는 강가를 오래 걸었다.", "걸으면서 옛일을 생각했다.", "천천히 걷는 노인이 있었다."]),
    ("아름답다", ["아름다운 저녁이었다.", "그날 바다는 유난히 아름다웠다."]),
    ("슬프다", ["나는 이유 없이 슬펐다.", "슬픈 노래가 골목에 흘렀다."]),
    ("쓰다", ["밤새 편지를 썼다.", "일기를 쓰는 버릇이 생겼다."]),
    ("듣다", ["창밖의 빗소리를 들었다.", "새소리를 들으며 잠이 들었다."]),
    # regular although it ends in ㄷ: an expansion that guessed ㄷ-irregular 밀었다 would hit 밀다 below
    ("믿다", ["그는 끝내 나를 믿었다.", "믿는 사람이 없었다."]),
]
DISTRACTORS = [
    "시장 골목에 사람들이 모여 있었다.", "기차가 역을 떠났다.", "창문 너머로 불빛이 보였다.",
    "그는 아무 대답도 하지 않았다.", "겨울이 오고 강물이 얼었다.", "학교 운동장은 비어 있었다.",
    "어머니는 부엌에서 밥을 지었다.", "다리 위에 바람이 불었다.", "책상 위에 낡은 사진이 있었다.",
    # near misses: other verbs whose inflections look like a theme's. Nori itself reads 들었다 (들다)
    # as 듣 and 쓸었다 (쓸다) as 쓰, so these count against any search that finds 들었다/썼다.
    "문을 힘껏 밀었다.", "무거운 가방을 들었다.", "마당을 쓸었다.",
]  # fmt: skip


def corpus_passages(chars: int = 600) -> tuple[list[dict], str]:
    layout = Layout(ROOT)
    if layout.passages.exists():
        rows = [json.loads(line) for line in layout.passages.open(encoding="utf-8") if line.strip()]
        return rows, str(layout.passages.relative_to(ROOT))
    works = ROOT.parent / "shared" / "data" / "corpus" / "works.jsonl"
    rows = []
    for line in works.open(encoding="utf-8"):
        work = json.loads(line)
        text = work["text"]
        for k, start in enumerate(range(0, len(text), chars)):
            rows.append(
                {
                    "passage_id": f"{work['id']}-{k:04d}",
                    "doc_id": work["id"],
                    "text": text[start : start + chars],
                }
            )
    return rows, f"{works} in {chars}-char chunks (preprocess output absent)"


def synthetic_passages(passages: list[dict], n: int, seed: int = 0, chars: int = 600) -> list[dict]:
    """``n`` passages of about ``chars`` characters, each a random recombination of corpus sentences."""
    sentences = [
        s.strip() for p in passages for s in re.split(r"(?<=[.!?。])\s+|\n+", p["text"]) if len(s.strip()) > 5
    ]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        parts, size = [], 0
        while size < chars:
            s = sentences[rng.randrange(len(sentences))]
            parts.append(s)
            size += len(s) + 1
        out.append(
            {
                "passage_id": f"syn{i:06d}",
                "doc_id": f"syn{i // 20:05d}",
                "text": " ".join(parts)[: chars + 100],
            }
        )
    return out


def percentiles(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 3),
        "queries": len(ms),
    }


def timed_queries(search, queries: list[str], repeats: int) -> dict:
    for q in queries[:3]:
        search(q)  # warm-up
    ms = []
    for _ in range(repeats):
        for q in queries:
            t = time.perf_counter()
            search(q)
            ms.append((time.perf_counter() - t) * 1000)
    return percentiles(ms)


# -- the three contenders ---------------------------------------------------------------------


def run_embedded(passages: list[dict], queries: list[str], repeats: int, index_threads: int | None) -> dict:
    params = load_params(ROOT / "params.yaml").index
    if index_threads is not None:
        params = params.model_copy(update={"index_threads": index_threads})
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        backend = EmbeddedBackend(params, Path(tmp) / "index")
        backend.analyze("워밍업")  # JVM start is not indexing time
        t = time.perf_counter()
        n = backend.index(passages)
        index_s = time.perf_counter() - t
        lat = timed_queries(lambda q: backend.search(q, 10), queries, repeats)
        # the same top 10 without stored fields and highlighting: where the time goes
        j, searcher = backend.java, backend._open()
        sort = j.Sort([j.SortField.FIELD_SCORE, j.SortField("passage_id", j.SortFieldType.STRING)])
        bare = timed_queries(
            lambda q: searcher.search(backend.build_query(q), 10, sort, True), queries, repeats
        )
        backend.close()
    return {
        "index_threads": params.index_threads,
        "index_s": round(index_s, 2),
        "passages_per_s": round(n / index_s, 1),
        **lat,
        "retrieval_only": {"p50_ms": bare["p50_ms"], "p95_ms": bare["p95_ms"]},
    }


def whitespace(text: str) -> list[str]:
    return text.split()


def run_rank_bm25(passages: list[dict], queries: list[str], repeats: int) -> dict:
    from rank_bm25 import BM25Okapi

    t = time.perf_counter()
    bm25 = BM25Okapi([whitespace(p["text"]) for p in passages])
    index_s = time.perf_counter() - t

    def search(q: str):
        scores = bm25.get_scores(whitespace(q))
        return sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:10]

    lat = timed_queries(search, queries, repeats)
    return {"index_s": round(index_s, 2), "passages_per_s": round(len(passages) / index_s, 1), **lat}


# mecab-ko-dic tags dropped like Nori's default stoptags (endings, particles, adverbs, affixes, punctuation)
MECAB_STOP = (
    "E",
    "J",
    "MAG",
    "MAJ",
    "MM",
    "IC",
    "SF",
    "SE",
    "SS",
    "SP",
    "SC",
    "SY",
    "XPN",
    "XSN",
    "XSV",
    "XSA",
    "VSV",
    "UNA",
    "NA",
)


class MecabAnalyzer:
    def __init__(self):
        import mecab_ko

        self.tagger = mecab_ko.Tagger()

    def __call__(self, text: str) -> list[str]:
        tokens = []
        for line in self.tagger.parse(text).splitlines():
            if line == "EOS" or "\t" not in line:
                continue
            surface, feats = line.split("\t", 1)
            f = feats.split(",")
            tag = f[0]
            if f[4] == "Inflect" and len(f) > 7:  # 갔 = 가/VV + 았/EP: keep the stem
                first = f[7].split("+")[0].split("/")
                surface, tag = first[0], first[1]
            elif f[3] != "*":
                surface = f[3]  # reading form (學校 -> 학교)
            if not tag.startswith(MECAB_STOP):
                tokens.append(surface.lower())
        return tokens


def run_bm25s_mecab(passages: list[dict], queries: list[str], repeats: int) -> dict:
    import bm25s

    analyzer = MecabAnalyzer()
    t = time.perf_counter()
    corpus_tokens = [analyzer(p["text"]) for p in passages]
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)
    index_s = time.perf_counter() - t

    def search(q: str):
        tokens = [analyzer(q)]
        if not tokens[0]:
            return []
        return retriever.retrieve(tokens, k=min(10, len(passages)), show_progress=False, n_threads=1)

    lat = timed_queries(search, queries, repeats)
    return {"index_s": round(index_s, 2), "passages_per_s": round(len(passages) / index_s, 1), **lat}


# -- recall of inflected forms -------------------------------------------------------------------


def labelled_passages() -> list[dict]:
    rows = []
    for qi, (_, sentences) in enumerate(LABELLED):
        for si, s in enumerate(sentences):
            rows.append({"passage_id": f"r{qi}-{si}", "doc_id": f"r{qi}", "text": s})
    rows += [{"passage_id": f"x{i}", "doc_id": "x", "text": s} for i, s in enumerate(DISTRACTORS)]
    return rows


def recall(found: dict[str, set[str]]) -> dict:
    """Recall over the labelled passages; a false positive is any other passage found for the query."""
    per_query, hit, total, false_positives = {}, 0, 0, {}
    for qi, (query, sentences) in enumerate(LABELLED):
        relevant = {f"r{qi}-{si}" for si in range(len(sentences))}
        got = len(relevant & found[query])
        per_query[query] = f"{got}/{len(relevant)}"
        hit, total = hit + got, total + len(relevant)
        if found[query] - relevant:
            false_positives[query] = sorted(found[query] - relevant)
    return {
        "recall": round(hit / total, 3),
        "found": f"{hit}/{total}",
        "per_query": per_query,
        "false_positives": sum(len(v) for v in false_positives.values()),
        "false_positive_ids": false_positives,
    }


def themes_found(backend, query_params, rows: list[dict], expand: bool) -> tuple[dict, dict]:
    """(query -> passage ids found, query -> forms it expanded to), searched as the query stage does."""
    # every matching passage: top_k above the set's size
    params = query_params.model_copy(update={"top_k": len(rows), "expand_predicates": expand})
    results = {q: search_theme(backend, ThemeParams(text=q), params) for q, _ in LABELLED}
    found = {q: {h.passage_id for h in r.hits} for q, r in results.items()}
    return found, {q: r.expanded for q, r in results.items() if r.expanded}


def inflection_recall() -> dict:
    rows = labelled_passages()
    params = load_params(ROOT / "params.yaml")
    with tempfile.TemporaryDirectory(prefix="bench-recall-") as tmp:
        backend = EmbeddedBackend(params.index, Path(tmp) / "index")
        backend.index(rows)
        expanded, expanded_to = themes_found(backend, params.query, rows, expand=True)
        unexpanded, _ = themes_found(backend, params.query, rows, expand=False)
        # what the expansion adds to a theme's search, once per theme (conjugations analysed by Nori)
        themes = [q for q, _ in LABELLED]
        expansion_ms = timed_queries(lambda q: expand_query(ThemeQuery(q), backend.analyze), themes, 5)
        backend.close()

    from rank_bm25 import BM25Okapi

    bm25 = BM25Okapi([whitespace(r["text"]) for r in rows])
    naive = {}
    for q, _ in LABELLED:
        scores = bm25.get_scores(whitespace(q))
        naive[q] = {rows[i]["passage_id"] for i in range(len(rows)) if scores[i] > 0}

    analyzer = MecabAnalyzer()
    tokenized = [set(analyzer(r["text"])) for r in rows]
    mecab = {
        q: {rows[i]["passage_id"] for i, toks in enumerate(tokenized) if toks & set(analyzer(q))}
        for q, _ in LABELLED
    }
    return {
        "labelled_passages": len(rows),
        "relevant": sum(len(s) for _, s in LABELLED),
        "embedded": {**recall(expanded), "expanded_to": expanded_to, "expansion_cost": expansion_ms},
        "embedded_without_expansion": recall(unexpanded),
        "rank_bm25_whitespace": recall(naive),
        "mecab_ko": recall(mecab),
    }


def bench_size(
    label: str,
    passages: list[dict],
    repeats: int,
    baseline_repeats: int,
    index_threads: int | None,
    save=lambda part: None,
) -> dict:
    """Our backend, then the two baselines; ``save`` gets the partial result after each contender."""
    print(f"[{label}] {len(passages)} passages", flush=True)
    result = {"passages": len(passages), "chars": sum(len(p["text"]) for p in passages)}
    result["embedded"] = run_embedded(passages, QUERIES, repeats, index_threads)
    print("  embedded", result["embedded"], flush=True)
    save(result)
    result["rank_bm25_whitespace"] = run_rank_bm25(passages, QUERIES, baseline_repeats)
    print("  rank_bm25", result["rank_bm25_whitespace"], flush=True)
    e, b = result["embedded"], result["rank_bm25_whitespace"]
    result["ratio_vs_rank_bm25"] = {
        "indexing_speed": round(e["passages_per_s"] / b["passages_per_s"], 3),
        "query_p95_speedup": round(b["p95_ms"] / e["p95_ms"], 2),
    }
    save(result)
    result["bm25s_mecab_ko"] = run_bm25s_mecab(passages, QUERIES, repeats)
    print("  bm25s+mecab", result["bm25s_mecab_ko"], flush=True)
    return result


def host_speed_probe(seconds: float = 2.0) -> float:
    """Millions of empty Python loop turns per second on one thread: the host's speed at the time.

    Why: on a shared VM the same code indexes ±20% faster or slower as neighbours come and go, which
    the load average inside the VM does not show; this makes runs from different hours comparable.
    """
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        n += 1
    return round(n / seconds / 1e6, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthetic", type=int, default=100_000)
    ap.add_argument("--out", default=str(ROOT / "reports" / "bench" / "search.json"))
    ap.add_argument(
        "--index-threads", type=int, default=None, help="index.index_threads (default: params.yaml's)"
    )
    args = ap.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()
    corpus, corpus_source = corpus_passages()
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": load_before,
            "speed_probe_mloops_per_s": host_speed_probe(),
        },
        "corpus_source": corpus_source,
        "targets": {"indexing_passages_per_s": 2000, "query_p95_ms_at_100k": 20, "inflection_recall": 1.0},
    }

    def save() -> None:  # after every section: a run stopped by a time limit keeps what it measured
        report["machine"]["loadavg_after"] = os.getloadavg()
        report["seconds"] = round(time.perf_counter() - started, 1)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    report["recall_of_inflected_forms"] = inflection_recall()
    print("recall", report["recall_of_inflected_forms"], flush=True)
    save()
    report["corpus"] = bench_size("corpus", corpus, 5, 3, args.index_threads)
    save()
    synthetic = synthetic_passages(corpus, args.synthetic)
    key = f"synthetic_{args.synthetic}"

    def save_synthetic(part: dict) -> None:
        report[key] = part
        save()

    report[key] = bench_size("synthetic", synthetic, 5, 1, args.index_threads, save=save_synthetic)
    save()
    print(f"wrote {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
