"""Theme selection against the project's labelled relevance set (bench/data/themes/).

For each default theme, in ONE run on the default corpus (data/index and data/interim from
`dvc repro index`): precision@100, precision@300 and recall of the labelled relevant passages for
  * bm25_today — the query stage as it was: match any, the old synonyms (사망, 임종), no phrases;
  * bm25_fixed — the query stage as params.yaml configures it now (match unit, its synonyms);
  * dense      — cosine over the embed stage's vectors alone (when data/embeddings holds them);
  * fusion     — reciprocal-rank fusion of bm25_fixed and dense (query.semantic).
Paraphrase recall counts the relevant passages without the theme's own stem (죽, 담대), which only a
paraphrase or the embeddings can find. Also re-checks the inflected-form recall of bench/search.py's
labelled sentences (19/19 before this change). Writes reports/bench/themes.json.

Usage: python bench/themes.py [--out reports/bench/themes.json] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from sanchaek.config import load_params  # noqa: E402
from sanchaek.config.search import QueryParams, ThemeParams  # noqa: E402
from sanchaek.embed import embeddings_dir  # noqa: E402
from sanchaek.io import read_jsonl  # noqa: E402
from sanchaek.paths import Layout  # noqa: E402
from sanchaek.query import search_theme  # noqa: E402
from sanchaek.search.embedded import EmbeddedBackend  # noqa: E402
from sanchaek.search.fusion import DenseThemeSearch  # noqa: E402

LABELS = {"죽음": ROOT / "bench/data/themes/death.jsonl", "담대하다": ROOT / "bench/data/themes/bold.jsonl"}
OWN_STEM = {"죽음": "죽", "담대하다": "담대"}  # a relevant passage without it is told through a paraphrase
TODAY_SYNONYMS = {"죽음": ["사망", "임종"], "담대하다": []}  # params.yaml before this change
CUTOFFS = (100, 300)
TARGETS = {"죽음": {"precision@300": 0.90, "paraphrase_recall": 0.80}}


def load_labels(path: Path, texts: dict[str, str]) -> tuple[dict[str, bool], int]:
    """passage_id -> relevant, for rows whose passage text is unchanged (text_sha1); and how many were stale."""
    labels, stale = {}, 0
    for row in read_jsonl(path):
        text = texts.get(row["passage_id"])
        if text is None or hashlib.sha1(text.encode("utf-8")).hexdigest()[:16] != row["text_sha1"]:
            stale += 1
            continue
        labels[row["passage_id"]] = bool(row["relevant"])
    return labels, stale


def metrics(ranked: list[str], labels: dict[str, bool], paraphrases: set[str], selected: int) -> dict:
    """Precision at the cutoffs (judged only, and strict: an unjudged hit counts as not relevant),
    recall of the relevant set in the whole list and in the selection, paraphrase recall."""
    relevant = {pid for pid, rel in labels.items() if rel}
    out: dict = {"hits": len(ranked)}
    for k in CUTOFFS:
        top = ranked[:k]
        judged = [pid for pid in top if pid in labels]
        good = sum(1 for pid in judged if labels[pid])
        out[f"precision@{k}"] = round(good / len(judged), 4) if judged else None
        out[f"precision@{k}_strict"] = round(good / len(top), 4) if top else None
        out[f"judged@{k}"] = f"{len(judged)}/{len(top)}"
    found, chosen = set(ranked), set(ranked[:selected])
    out["recall"] = round(len(relevant & found) / len(relevant), 4) if relevant else None
    out["recall_selected"] = round(len(relevant & chosen) / len(relevant), 4) if relevant else None
    out["paraphrase_recall"] = round(len(paraphrases & found) / len(paraphrases), 4) if paraphrases else None
    out["paraphrase_recall_selected"] = (
        round(len(paraphrases & chosen) / len(paraphrases), 4) if paraphrases else None
    )
    out["paraphrases_found"] = f"{len(paraphrases & found)}/{len(paraphrases)}"
    return out


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, round((time.perf_counter() - start) * 1000, 1)


def load_dense(params, layout: Layout, passages: dict[str, dict]) -> tuple[DenseThemeSearch | None, str]:
    from sanchaek.search.embedding import load_dense_index, load_embedder

    folder = embeddings_dir(layout)
    try:
        index = load_dense_index(folder)
    except Exception as exc:  # no stage output: say why instead of a number
        return None, f"no passage embeddings ({exc})"
    if len(index.passage_ids) < len(passages):
        return None, (
            f"{len(index.passage_ids)} of {len(passages)} passages embedded: run `sanchaek embed` with "
            "embed.enabled: true to completion"
        )
    embedder = load_embedder(params.embed.model, params.embed.threads or None)
    return DenseThemeSearch(index, embedder, passages, params.index.highlight_fragment_chars), ""


def embed_throughput(params, passages: dict[str, dict], n: int = 16) -> dict:
    """Passages/s of the embed stage's model on ``n`` corpus passages (what decides opt-in), and the
    host's load while it ran (the VM's 2 cores are shared)."""
    import os

    from sanchaek.search.embedding import load_embedder

    texts = [r["text"] for r in list(passages.values())[:: max(1, len(passages) // n)][:n]]
    embedder = load_embedder(params.embed.model, params.embed.threads or None)
    embedder.passages(texts[:1])  # load and warm up
    start = time.perf_counter()
    embedder.passages(texts)
    seconds = time.perf_counter() - start
    rate = len(texts) / seconds
    return {
        "model": embedder.name,
        "passages": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts)),
        "passages_per_s": round(rate, 2),
        "corpus_minutes_at_this_rate": round(len(passages) / rate / 60, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }


def dense_on_cached_subset(params, layout: Layout, texts: dict[str, str], labels: dict[str, bool],
                           stem: str, queries: list[str]) -> dict | None:  # fmt: skip
    """When the corpus is not fully embedded: how well the model's cosine to the theme separates the
    labelled passages whose vectors ARE in the embed cache (ROC AUC; hard negatives, since the
    labelled non-relevant passages were drawn from near misses). An indication, not the bench."""
    from sklearn.metrics import roc_auc_score

    from sanchaek.embed import embed_cache_root
    from sanchaek.search.embedding import load_embedder, model_cache_dir, read_cache, text_key

    embedder = load_embedder(params.embed.model, params.embed.threads or None)
    cache = read_cache(model_cache_dir(embed_cache_root(layout), embedder.name), embedder.dim)
    pids = [pid for pid in labels if text_key(texts[pid]) in cache]
    if not pids:
        return None
    q = embedder.queries(queries)
    sims = np.array([float(np.max(q @ cache[text_key(texts[pid])])) for pid in pids])
    rel = np.array([labels[pid] for pid in pids])
    para = np.array([stem not in texts[pid] for pid in pids])
    out = {"labelled_passages_embedded": len(pids), "relevant": int(rel.sum())}
    if 0 < rel.sum() < len(rel):
        out["roc_auc"] = round(float(roc_auc_score(rel, sims)), 3)
    keep = ~(rel & ~para)  # paraphrase-relevant against every non-relevant one
    if 0 < (rel & para).sum() < keep.sum():
        out["paraphrase_relevant"] = int((rel & para).sum())
        out["paraphrase_roc_auc"] = round(float(roc_auc_score(rel[keep], sims[keep])), 3)
    return out


def inflection_check() -> dict:
    """bench/search.py's labelled inflections, searched as the query stage searches them now."""
    from search import labelled_passages, recall, themes_found  # bench/search.py

    params = load_params(ROOT / "params.yaml")
    rows = labelled_passages()
    with tempfile.TemporaryDirectory(prefix="bench-themes-") as tmp:
        backend = EmbeddedBackend(params.index, Path(tmp) / "index")
        backend.index(rows)
        found, _ = themes_found(backend, params.query, rows, expand=True)
        backend.close()
    return recall(found)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "reports/bench/themes.json"))
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    args = ap.parse_args()
    params = load_params(args.params)
    layout = Layout(ROOT)
    passages = {str(r["passage_id"]): r for r in read_jsonl(layout.passages)}
    texts = {pid: r["text"] for pid, r in passages.items()}
    backend = EmbeddedBackend(params.index, layout.index_dir)
    dense, dense_missing = load_dense(params, layout, passages)
    selected = params.query.max_per_theme
    report: dict = {
        "corpus_passages": len(passages),
        "machine": f"{platform.node()} ({platform.processor() or platform.machine()})",
        "selected_per_theme": selected,
        "top_k": params.query.top_k,
        "themes": {},
    }
    for theme_text, path in LABELS.items():
        labels, stale = load_labels(path, texts)
        stem = OWN_STEM[theme_text]
        paraphrases = {pid for pid, rel in labels.items() if rel and stem not in texts[pid]}
        configured = next(
            (t for t in params.query.themes if t.text == theme_text), ThemeParams(text=theme_text)
        )
        today_params = QueryParams(
            themes=[ThemeParams(text=theme_text)], match="any", top_k=params.query.top_k
        )
        today_theme = ThemeParams(text=theme_text, synonyms=TODAY_SYNONYMS[theme_text])
        fixed_params = params.query.model_copy(
            update={"semantic": params.query.semantic.model_copy(update={"enabled": False})}
        )
        fixed_theme = configured.model_copy(update={"semantic": False})
        systems: dict = {}
        today, ms = timed(search_theme, backend, today_theme, today_params)
        systems["bm25_today"] = {
            **metrics([h.passage_id for h in today.hits], labels, paraphrases, selected),
            "ms": ms,
        }
        fixed, ms = timed(search_theme, backend, fixed_theme, fixed_params)
        systems["bm25_fixed"] = {
            **metrics([h.passage_id for h in fixed.hits], labels, paraphrases, selected),
            "ms": ms,
            "clauses": fixed.clauses,
        }
        if dense is not None:
            ranking, ms = timed(dense.ranking, [configured.text, *configured.synonyms], params.query.top_k)
            systems["dense"] = {
                **metrics([pid for pid, _ in ranking], labels, paraphrases, selected),
                "ms": ms,
            }
            fused_params = params.query.model_copy(
                update={"semantic": params.query.semantic.model_copy(update={"enabled": True})}
            )
            fused_theme = fixed_theme.model_copy(update={"semantic": True})
            fused, ms = timed(search_theme, backend, fused_theme, fused_params, dense)
            systems["fusion"] = {
                **metrics([h.passage_id for h in fused.hits], labels, paraphrases, selected),
                "ms": ms,
            }
        else:
            systems["dense"] = systems["fusion"] = {"not_measured": dense_missing}
            partial = dense_on_cached_subset(
                params, layout, texts, labels, stem, [configured.text, *configured.synonyms]
            )
            if partial is not None:
                systems["dense"]["cached_subset"] = partial
        report["themes"][theme_text] = {
            "labelled": len(labels),
            "relevant": sum(labels.values()),
            "paraphrase_relevant": len(paraphrases),
            "stale_labels": stale,
            "synonyms": list(configured.synonyms),
            "systems": systems,
        }
        targets = TARGETS.get(theme_text)
        if targets:
            best = {
                name: {
                    "precision@300": s.get("precision@300"),
                    "paraphrase_recall": s.get("paraphrase_recall"),
                    "met": all((s.get(key) or 0) >= goal for key, goal in targets.items()),
                }
                for name, s in systems.items()
                if "not_measured" not in s
            }
            report["themes"][theme_text]["targets"] = {"goal": targets, "by_system": best}
        print(json.dumps({theme_text: systems}, ensure_ascii=False), flush=True)
    backend.close()
    report["inflected_form_recall"] = inflection_check()
    report["embed_throughput"] = embed_throughput(params, passages)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
