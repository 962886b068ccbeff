"""``sanchaek preprocess``: KLUE-style cleaning of data/raw into documents and passages.

Order (each step counted in reports/preprocess.json):
  read raw (bad lines: error or counted skip) -> normalize (NFC, HTML, boilerplate, punctuation)
  -> style measures (hanja ratio, period spellings; before conversion) -> hanja -> hangul
  -> document filters (length, repeated lines, non-prose, toxicity density, modernity)
  -> sentence split (one batched Kiwi call per worker batch) -> per sentence: PII, toxicity,
  quality -> passages -> document exact + near dedup, then passage exact + near dedup (global, in
  document order; a duplicate document was split in its worker, but none of its counts after
  the document filters are kept, as if it had been dropped before the split).

The per-document steps (normalize ... passages, and each text's dedup keys) run in batches on
``preprocess.workers`` processes (``text/clean.py``; ``preprocess.executor: dask`` runs them on a
Dask cluster). Exact and near-duplicate removal stays global: the workers send back MinHash
signatures and this process checks them against one index in document order, so the output is the
same bytes whatever the number of workers or the batch size.

``preprocess_into(raw_files, params, sink)`` is the streaming core (files in, lines to a sink, in
document order); ``preprocess`` collects it in memory; ``command`` streams it into temp files that
replace the outputs only when the run succeeds. Same input and params, same bytes.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

import click

from .cli import params_option
from .config import PreprocessParams, load_params
from .errors import SanchaekError
from .executors import ExecutionPlan, ordered_map
from .io import atomic_open, write_json
from .paths import Layout
from .report import write_stage_report, write_timings
from .text.clean import (
    SENTENCE_PER_LINE,
    Clock,
    DocOut,
    PassageOut,
    build_context,
    clean_batch,
    clean_documents,
    kiwi_threads_per_process,
)
from .text.dedup import ExactDeduper, NearDeduper
from .text.ledger import GroupStats, Ledger

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# reading raw input


@dataclass
class BadLines:
    on_bad_line: str
    by_reason: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def handle(self, path: Path, lineno: int, reason: str) -> None:
        if self.on_bad_line == "raise":
            raise SanchaekError(
                f"{path}:{lineno}: {reason}: fix or remove that line, or set preprocess.on_bad_line: skip"
            )
        self.by_reason[reason.split(" (")[0]] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{path.name}:{lineno}: {reason}")


def raw_files(raw_dir: Path) -> list[Path]:
    files = sorted(p for p in Path(raw_dir).glob("*.jsonl") if p.is_file())
    if not files:
        raise SanchaekError(f"no *.jsonl in {raw_dir}: run `sanchaek crawl` first (or `dvc repro crawl`)")
    return files


def iter_raw(files: list[Path], bad: BadLines) -> Iterator[tuple[str, dict]]:
    """(source, record) in file order; broken lines, empty text and duplicate ids go to ``bad``."""
    seen: set[str] = set()
    for path in files:
        with path.open("rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                record, reason = _parse_line(raw)
                if record is not None:
                    reason = _record_problem(record, seen)
                if reason:
                    bad.handle(path, lineno, reason)
                    continue
                seen.add(record["id"])
                yield str(record.get("source") or path.stem), record


def _parse_line(raw: bytes) -> tuple[dict | None, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "invalid UTF-8"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"broken JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(record, dict):
        return None, "line is not a JSON object"
    return record, ""


def _record_problem(record: dict, seen: set[str]) -> str:
    doc_id = record.get("id")
    if not isinstance(doc_id, str) or not doc_id.strip():
        return "missing or empty id"
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return f"empty text (id {doc_id})"
    if doc_id in seen:
        return f"duplicate id {doc_id}"
    return ""


# ------------------------------------------------------------------------------------------------
# the core: batches out to workers, results merged and deduplicated here in document order


@dataclass
class PreprocessResult:
    documents: list[dict]
    passages: list[dict]
    report: dict
    sources: dict


class Sink(Protocol):
    def document(self, line: str) -> None: ...
    def passage(self, line: str) -> None: ...


class _ListSink:
    def __init__(self) -> None:
        self.documents: list[dict] = []
        self.passages: list[dict] = []

    def document(self, line: str) -> None:
        self.documents.append(json.loads(line))

    def passage(self, line: str) -> None:
        self.passages.append(json.loads(line))


class _FileSink:
    def __init__(self, documents: TextIO, passages: TextIO) -> None:
        self.document = documents.write  # type: ignore[method-assign]
        self.passage = passages.write  # type: ignore[method-assign]


def preprocess(
    files: list[Path], p: PreprocessParams, *, timings: dict[str, float] | None = None
) -> PreprocessResult:
    """Run the whole stage on raw JSONL files, in memory (small inputs and tests)."""
    sink = _ListSink()
    report, sources = preprocess_into(files, p, sink, timings=timings)
    return PreprocessResult(sink.documents, sink.passages, report, sources)


def preprocess_into(
    files: list[Path], p: PreprocessParams, sink: Sink, *, timings: dict[str, float] | None = None
) -> tuple[dict, dict]:
    """Stream the stage: raw files in, JSONL lines to ``sink`` in document order; returns the
    report and the per-source report. ``timings`` (if given) receives seconds per step, summed
    over worker processes. Memory: the batches in flight plus the dedup indexes."""
    timings = timings if timings is not None else {}
    clock = Clock(timings)
    bad = BadLines(p.on_bad_line)
    ledger = Ledger()
    docs_dedup, passages_dedup = _Dedup(p), _Dedup(p)
    characters_out = 0
    batches = _raw_batches(iter_raw(files, bad), p.batch_chars)
    for out in ordered_map(_cleaner(p), batches, _plan(p)):
        for step, seconds in out.timings.items():
            timings[step] = timings.get(step, 0.0) + seconds
        with clock("dedup"):
            kept = [(d, _merge_document(d, ledger, docs_dedup, passages_dedup)) for d in out.docs]
        for doc, passages in kept:
            if doc.line is None:
                continue
            sink.document(doc.line)
            for passage in passages:
                sink.passage(passage.line)
                characters_out += passage.n_chars
    report = _report(p, files, bad, ledger, characters_out)
    return report, _sources_report(ledger.stats, p)


def _plan(p: PreprocessParams) -> ExecutionPlan:
    return ExecutionPlan(p.executor, p.workers, scheduler=p.dask_scheduler, what="preprocess")


def _cleaner(p: PreprocessParams):
    """The batch function: in this process with one context, or by params in worker processes."""
    plan = _plan(p)
    if plan.executor == "local" and plan.processes == 1:
        return functools.partial(clean_documents, build_context(p, p.split.workers))
    # a Dask worker is one process of one thread: its Kiwi gets split.workers threads, or one
    threads = (
        kiwi_threads_per_process(p.split.workers, plan.processes)
        if plan.executor == "local"
        else (p.split.workers or 1)
    )
    return functools.partial(clean_batch, p.model_dump_json(), threads)


def _raw_batches(records: Iterator[tuple[str, dict]], batch_chars: int) -> Iterator[list[tuple[str, dict]]]:
    batch, size = [], 0
    for source, record in records:
        batch.append((source, record))
        size += len(record["text"])
        if size >= batch_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class _Dedup:
    """Exact and near-duplicate indexes over everything seen so far (global across batches)."""

    def __init__(self, p: PreprocessParams) -> None:
        d = p.dedup
        self.exact = ExactDeduper() if d.exact else None
        self.near = NearDeduper(d.near_threshold, d.num_perm, d.shingle_chars, d.seed) if d.near else None

    def reason(self, key: str, item: DocOut | PassageOut) -> str | None:
        if self.exact is not None and self.exact.check_key(key, item.exact_key) is not None:
            return "exact_duplicate"
        if self.near is not None and self.near.check_signature(key, item.signature) is not None:
            return "near_duplicate"
        return None


def _merge_document(doc: DocOut, ledger: Ledger, docs: _Dedup, passages: _Dedup) -> list[PassageOut]:
    """Count one cleaned document; returns its passages that are not duplicates of earlier ones."""
    ledger.merge(doc.before)
    reason = doc.reason or docs.reason(doc.doc_id, doc)
    if reason:
        ledger.docs.drop(doc.source, reason)
        doc.line = None
        return []
    ledger.merge(doc.after)
    kept = []
    for passage in doc.passages:
        reason = passages.reason(passage.passage_id, passage)
        if reason:
            ledger.passages.drop(doc.source, reason)
            continue
        ledger.passages.keep(doc.source)
        kept.append(passage)
    return kept


# ------------------------------------------------------------------------------------------------
# reports


def _report(p, files, bad, ledger: Ledger, characters_out: int) -> dict:
    documents, sentences, passage_counts = (
        ledger.docs.report(),
        ledger.sentences.report(),
        ledger.passages.report(),
    )
    counts = ledger.counts
    # PII is replaced, not dropped (unless pii.action: drop): counted per kind next to the drop reasons
    sentences["pii_by_kind"] = {kind: counts["pii"][kind] for kind in sorted(p.pii.kinds)}
    # sentences of dropped-before-split documents are never counted: the split happens after them
    for name, part in (("documents", documents), ("sentences", sentences), ("passages", passage_counts)):
        part["adds_up"] = part["in"] == part["out"] + sum(part["dropped"].values())
        if not part["adds_up"]:
            raise AssertionError(f"preprocess {name} counts do not add up: {part}")
    return {
        "inputs": [str(f) for f in files],
        "bad_lines": {
            "on_bad_line": p.on_bad_line,
            "skipped": sum(bad.by_reason.values()),
            "by_reason": dict(sorted(bad.by_reason.items())),
            "examples": bad.examples,
        },
        "documents": documents,
        "sentences": sentences,
        "passages": passage_counts,
        "characters_out": characters_out,
        "splitter": {"kind": p.split.splitter, "quote_aware": p.split.quote_aware},
        "normalize": dict(counts["normalize"]),
        "pii": {
            "action": p.pii.action,
            "kinds": list(p.pii.kinds),
            "found": {kind: counts["pii"][kind] for kind in sorted(p.pii.kinds)},
        },
        "toxicity": {"sentence_hits": dict(sorted(counts["toxicity_hits"].items()))},
        "hanja": {"mode": p.style.hanja, **dict(counts["hanja"])},
        "modernity": {
            "threshold": p.style.modernity_threshold,
            "action": p.style.modernity_action,
            "measure": "share of hangul words with a period spelling (text/style.py PERIOD_SPELLINGS)",
            "documents_not_modern": counts["modernity"]["not_modern"],
            "documents_not_modern_at": dict(counts["not_modern_at"]),
            "period_spelling_occurrences": dict(counts["period_spellings"]),
        },
    }


def _sources_report(stats: dict[tuple[str, str], GroupStats], p: PreprocessParams) -> dict:
    reference = _modern_reference(stats)
    out: dict = {
        "criteria": {
            "quality": "mean/median sentence length (chars), lexical diversity (MSTTR over 100-word windows), share dropped",
            "fit": "hanja ratio (before conversion), period-spelling share of words, share of modern documents, "
            "dialogue share of sentences, mean sentence length / modern reference",
            "quantity": "documents, sentences, characters (in and out)",
        },
        "reference": reference,
    }
    for kind in ("source", "genre", "layout", "origin"):
        groups = {name: s for (k, name), s in sorted(stats.items()) if k == kind}
        if groups:
            out[f"per_{kind}"] = {
                name: _criteria(s, reference["mean_sentence_chars"]) for name, s in groups.items()
            }
    return out


def _modern_reference(stats: dict[tuple[str, str], GroupStats]) -> dict:
    """Modern literary reference: the corpus's own modern-spelling layout (sentence_per_line)."""
    s = stats.get(("layout", SENTENCE_PER_LINE))
    if s is None or not s.sentence_lengths:
        return {
            "definition": "no sentence_per_line (modern spelling) documents in this run",
            "mean_sentence_chars": None,
        }
    return {
        "definition": "kept sentences of sentence_per_line documents (KoCoNovel, modern spelling)",
        "mean_sentence_chars": round(_hist_mean(s.sentence_lengths), 2),
    }


def _criteria(s: GroupStats, reference: float | None) -> dict:
    mean_len = _hist_mean(s.sentence_lengths) if s.sentence_lengths else 0.0
    return {
        "quality": {
            "mean_sentence_chars": round(mean_len, 2),
            "median_sentence_chars": _hist_median(s.sentence_lengths) if s.sentence_lengths else 0,
            "lexical_diversity_msttr": round(s.ttr_sum / s.ttr_windows, 4) if s.ttr_windows else None,
            "share_sentences_dropped": _share(s.sentences_in - s.sentences_out, s.sentences_in)
            if s.sentences_in
            else None,
            "share_documents_dropped": _share(s.docs_in - s.docs_out, s.docs_in),
        },
        "fit": {
            "hanja_ratio": _share(s.hanja, s.hanja + s.hangul),
            "period_spelling_share": _share(s.period_words, s.words),
            "share_documents_modern": _share(s.modern_docs, s.measured_docs),
            "dialogue_share": _share(s.dialogue, s.sentences_out),
            "sentence_length_vs_reference": round(mean_len / reference, 3) if reference else None,
        },
        "quantity": {
            "documents_in": s.docs_in,
            "documents": s.docs_out,
            "sentences": s.sentences_out,
            "characters_in": s.chars_in,
            "characters": s.chars_out,
        },
    }


def _hist_mean(hist: Counter) -> float:
    # statistics.fmean of the values: their exact sum as a float, over the count
    return float(sum(value * n for value, n in hist.items())) / sum(hist.values())


def _hist_median(hist: Counter) -> float:
    """statistics.median of the values a histogram counts (the middle one, or the mean of two)."""
    n = sum(hist.values())
    middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    found, seen = [], 0
    for value in sorted(hist):
        seen += hist[value]
        while len(found) < len(middle) and middle[len(found)] < seen:
            found.append(value)
    return found[0] if n % 2 else (found[0] + found[1]) / 2


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


# ------------------------------------------------------------------------------------------------
# command


# What came out of cleaning: reports/metrics/preprocess.json (per reason and per source stay in the detail).
PREPROCESS_HEADLINE = ("documents.out", "sentences.out", "passages.out", "characters_out")


def run_stage(root: Path, p: PreprocessParams) -> dict:
    layout = Layout(root)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    files = raw_files(layout.raw_dir)
    # both files are written as they stream and replace the old ones only if the whole run succeeds
    with atomic_open(layout.documents) as documents, atomic_open(layout.passages) as passages:
        report, sources = preprocess_into(files, p, _FileSink(documents, passages), timings=timings)
    write_stage_report(layout, "preprocess", report, headline=PREPROCESS_HEADLINE)
    write_json(layout.report("sources.json"), sources)
    log.info("preprocess steps (s): %s", {k: round(v, 2) for k, v in timings.items()})
    seconds = time.perf_counter() - started
    write_timings(
        layout,
        "preprocess",
        {"seconds": round(seconds, 3), "steps": {k: round(v, 3) for k, v in timings.items()}},
    )
    return {"seconds": seconds, **report}


@click.command(help="KLUE-style cleaning, PII removal, filters, dedup, passages.")
@params_option
def command(params_path: str) -> None:
    params = load_params(params_path)
    summary = run_stage(Path("."), params.preprocess)
    d, s, ps = summary["documents"], summary["sentences"], summary["passages"]
    click.echo(
        f"preprocess: documents {d['in']} -> {d['out']}, sentences {s['in']} -> {s['out']}, "
        f"passages {ps['out']} ({summary['characters_out']:,} chars) in {summary['seconds']:.1f}s"
    )
