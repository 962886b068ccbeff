"""One batch of raw documents through the per-document cleaning steps of ``sanchaek preprocess``.

``clean_batch(p, batch)`` is what a worker process (or a Dask worker) runs: normalize -> style ->
hanja -> document filters -> sentence split -> PII -> sentence filters -> passages, plus the exact
key and MinHash signature of every document and passage. It decides nothing that depends on other
batches: duplicates are removed by the parent, in document order, so the output does not depend on
how documents were batched or on how many workers ran.

Everything a document adds to the stage's reports is kept in two ``Ledger``s per document: what
counts whether or not it turns out to be a duplicate (``before``) and what counts only if it is
kept (``after``). The parent merges them in document order, so every counter, list and float sum
is built in the same order as one process would build it.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..config import PreprocessParams
from ..io import dumps_line
from . import style
from .dedup import NearDeduper, exact_key
from .filters import QualityRules, SentenceFilter, list_line_share, repeated_line_share
from .ledger import GroupStats, Ledger
from .normalize import NormalizeOptions, Normalizer, hanja_to_hangul
from .passages import Sentence, build_passages, passage_id
from .pii import PiiScrubber
from .sentences import SentenceSplitter
from .toxicity import DISGUISED, Lexicon, load_lexicon

SENTENCE_PER_LINE = "sentence_per_line"
MSTTR_WINDOW = 100  # words per window of the mean segmental type-token ratio (lexical diversity)
MODERNITY_LADDER = (0.002, 0.005, 0.01, 0.02, 0.05)


# ------------------------------------------------------------------------------------------------
# what a worker sends back


@dataclass
class PassageOut:
    passage_id: str
    line: str  # the JSONL line, serialized in the worker (the parent only writes it)
    n_chars: int
    exact_key: str | None
    signature: np.ndarray | None


@dataclass
class DocOut:
    source: str
    doc_id: str
    before: Ledger  # counted whether or not the document is a duplicate
    reason: str | None  # dropped by a document filter (before dedup)
    exact_key: str | None = None
    signature: np.ndarray | None = None
    after: Ledger = field(default_factory=Ledger)  # counted only if the document is kept
    line: str | None = None  # None: no sentence survived (dropped as no_sentences_left)
    passages: list[PassageOut] = field(default_factory=list)


@dataclass
class BatchOut:
    docs: list[DocOut]
    timings: dict[str, float]


# ------------------------------------------------------------------------------------------------
# the per-process context


@dataclass
class Context:
    p: PreprocessParams
    normalizer: Normalizer
    lexicon: Lexicon
    splitter: SentenceSplitter
    scrubber: PiiScrubber
    sentence_filter: SentenceFilter
    sketcher: NearDeduper | None


def build_context(p: PreprocessParams, kiwi_threads: int) -> Context:
    return Context(
        p=p,
        normalizer=Normalizer(
            NormalizeOptions(
                html=p.normalize.html,
                page_markers=p.normalize.page_markers,
                corner_quotes=p.normalize.corner_quotes == "ascii",
                boilerplate=tuple(p.normalize.boilerplate),
            )
        ),
        lexicon=load_lexicon(p.toxicity.lexicon),
        splitter=SentenceSplitter(
            p.split.splitter,
            quote_aware=p.split.quote_aware,
            workers=kiwi_threads,
            max_quote_chars=p.split.max_quote_chars,
            kiwi_min_chars=p.split.kiwi_min_chars,
        ),
        scrubber=PiiScrubber(p.pii.kinds),
        sentence_filter=SentenceFilter(_rules(p)),
        sketcher=_sketcher(p),
    )


@functools.lru_cache(maxsize=2)
def _cached_context(params_json: str, kiwi_threads: int) -> Context:
    # One per worker process and params: loading Kiwi's model takes about a second, far too much
    # per batch. The cache lives in the worker process (a pool or Dask worker), never shared.
    return build_context(PreprocessParams.model_validate_json(params_json), kiwi_threads)


def _sketcher(p: PreprocessParams) -> NearDeduper | None:
    d = p.dedup
    return NearDeduper(d.near_threshold, d.num_perm, d.shingle_chars, d.seed) if d.near else None


def clean_batch(params_json: str, kiwi_threads: int, batch: list[tuple[str, dict]]) -> BatchOut:
    """The worker's entry point: (source, record) pairs in, one ``DocOut`` per document out."""
    return clean_documents(_cached_context(params_json, kiwi_threads), batch)


class Clock:
    """Seconds per step, summed over calls: ``with clock("split"): ...``."""

    def __init__(self, timings: dict[str, float]):
        self.timings = timings
        self._step = ""
        self._t0 = 0.0

    def __call__(self, step: str) -> Clock:
        self._step = step
        return self

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self._step] = self.timings.get(self._step, 0.0) + time.perf_counter() - self._t0


def kiwi_threads_per_process(split_workers: int, processes: int) -> int:
    """``split.workers`` (0 = all cores) shared out between ``processes`` worker processes."""
    total = split_workers or (os.cpu_count() or 1)
    return max(1, total // max(1, processes))


# ------------------------------------------------------------------------------------------------
# the steps


@dataclass
class _Doc:
    out: DocOut
    record: dict
    text: str
    modern: bool
    period: float
    groups: list[tuple[str, str]]
    sentences: list[Sentence] = field(default_factory=list)


def clean_documents(ctx: Context, batch: list[tuple[str, dict]]) -> BatchOut:
    p = ctx.p
    timings: dict[str, float] = {}
    clock = Clock(timings)
    outs: list[DocOut] = []
    kept: list[_Doc] = []
    for source, record in batch:
        out = DocOut(source, record["id"], Ledger(), None)
        outs.append(out)
        with clock("normalize+style+hanja"):
            doc = _prepare(source, record, ctx.normalizer, p, out)
        if doc is None:
            continue
        with clock("filters"):
            out.reason = _document_reason(doc, p, ctx.lexicon, out.before.counts)
        if out.reason is None:
            with clock("dedup"):
                _keys(out, doc.text, p, ctx.sketcher)
            kept.append(doc)

    with clock("split"):
        _split(kept, ctx.splitter, p)
    with clock("pii"):
        for doc in kept:
            for g in doc.groups:
                doc.out.after.stats[g].sentences_in += len(doc.sentences)
            doc.sentences = _scrub(doc, ctx.scrubber, p)
    with clock("filters"):
        for doc in kept:
            doc.sentences = _filter_sentences(doc, ctx.sentence_filter, ctx.lexicon, p)
    for doc in kept:
        with clock("passages"):
            texts = _finish(doc, p)
        with clock("dedup"):
            for passage, text in zip(doc.out.passages, texts, strict=True):
                _keys(passage, text, p, ctx.sketcher)
    return BatchOut(outs, timings)


def _keys(out: DocOut | PassageOut, text: str, p: PreprocessParams, sketcher: NearDeduper | None) -> None:
    """What the parent's global dedup needs of ``text``: its exact key and MinHash signature."""
    out.exact_key = exact_key(text) if p.dedup.exact else None
    out.signature = sketcher.signature(text) if sketcher is not None else None


def _prepare(
    source: str, record: dict, normalizer: Normalizer, p: PreprocessParams, out: DocOut
) -> _Doc | None:
    ledger = out.before
    ledger.docs.take(source)
    raw_text = record["text"]
    groups = _groups(source, record)
    for g in groups:
        ledger.stats[g].docs_in += 1
        ledger.stats[g].chars_in += len(raw_text)
    text, boilerplate = normalizer.document(raw_text)
    ledger.counts["normalize"]["boilerplate_lines_removed"] += boilerplate
    if not text:
        out.reason = "empty_after_cleaning"
        return None
    return _measure_style(out, record, text, groups, p)


def _measure_style(out: DocOut, record, text, groups, p: PreprocessParams) -> _Doc:
    # style is measured on the normalized text, before hanja are read as hangul
    stats, counts = out.before.stats, out.before.counts
    hanja = style.hanja_count(text)
    hangul = style.hangul_count(text)
    period_hits, words = style.period_spelling_counts(text)
    period = period_hits / words if words else 0.0
    modern = period <= p.style.modernity_threshold
    counts["period_spellings"].update(style.period_spelling_breakdown(text))
    for rung in MODERNITY_LADDER:
        counts["not_modern_at"][str(rung)] += period > rung
    for g in groups:
        s = stats[g]
        s.hanja += hanja
        s.hangul += hangul
        s.period_words += period_hits
        s.words += words
        s.measured_docs += 1
        s.modern_docs += modern
    if hanja:
        counts["hanja"]["documents_with_hanja"] += 1
        counts["hanja"]["hanja_chars"] += hanja
        if p.style.hanja == "hangul":
            text, converted = hanja_to_hangul(text)
            left = style.hanja_count(text)
            counts["hanja"]["converted"] += converted - left
            counts["hanja"]["left_unread"] += left
    return _Doc(out, record, text, modern, period, groups)


def _groups(source: str, record: dict) -> list[tuple[str, str]]:
    groups = [
        ("source", source),
        ("genre", str(record.get("genre") or "unknown")),
        ("layout", str(record.get("layout") or "paragraphs")),
    ]
    origin = record.get("origin")
    if isinstance(origin, str) and origin:
        # corpus records carry "<owner>/<repo>:<path>@<commit>": the repo is the real sub-source
        groups.append(("origin", origin.split(":", 1)[0]))
    return groups


def _document_reason(doc: _Doc, p: PreprocessParams, lexicon: Lexicon, counts) -> str | None:
    q = p.quality
    text = doc.text
    if len(text) < q.min_doc_chars:
        return "too_short"
    lines = text.split("\n")
    if repeated_line_share(lines) > q.max_dup_line_share:
        return "repeated_lines"
    if list_line_share(lines) > q.max_list_line_share:
        return "non_prose"
    found = lexicon.hits(text, see_through=False)  # density of plain hits; sentences see through disguises
    hits = sum(n for category, n in found.items() if category != DISGUISED)
    if hits >= p.toxicity.doc_min_hits and hits * 1000 / len(text) > p.toxicity.doc_max_per_1k_chars:
        return "toxic"
    if not doc.modern:
        counts["modernity"]["not_modern"] += 1
        if p.style.modernity_action == "drop":
            return "not_modern"
    return None


def _split(docs: list[_Doc], splitter: SentenceSplitter, p: PreprocessParams) -> None:
    """Fill ``doc.sentences`` (text + separator); paragraph documents go through the splitter."""
    to_split: list[tuple[_Doc, int, str]] = []  # (doc, line index, line)
    for doc in docs:
        lines = [ln for ln in doc.text.split("\n") if ln.strip()]
        if doc.record.get("layout") == SENTENCE_PER_LINE:
            doc.sentences = [Sentence(ln, " ") for ln in lines]
        else:
            to_split.extend((doc, i, ln) for i, ln in enumerate(lines))
    for batch in _batches(to_split, p.split.batch_chars):
        units = [line for _, _, line in batch]
        for (doc, _, line), spans in zip(batch, splitter.split_spans(units), strict=True):
            for k, (s, e) in enumerate(spans):
                doc.sentences.append(Sentence(line[s:e], "\n" if k == 0 else " "))


def _batches(items: list[tuple[_Doc, int, str]], batch_chars: int):
    batch, size = [], 0
    for item in items:
        batch.append(item)
        size += len(item[2])
        if size >= batch_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _scrub(doc: _Doc, scrubber: PiiScrubber, p: PreprocessParams) -> list[Sentence]:
    tally, counts, source = doc.out.after.sentences, doc.out.after.counts, doc.out.source
    out = []
    for sentence in doc.sentences:
        tally.take(source)
        if len(sentence.text) > p.quality.max_sentence_chars:
            out.append(sentence)  # dropped as too_long by the quality filter: not worth scrubbing
            continue
        text, found = scrubber.scrub(sentence.text)
        if found:
            counts["pii"].update(found)
            if p.pii.action == "drop":
                tally.drop(source, "pii")
                continue
        out.append(Sentence(text, sentence.sep) if found else sentence)
    return out


def _rules(p: PreprocessParams) -> QualityRules:
    q = p.quality
    return QualityRules(
        min_sentence_chars=q.min_sentence_chars,
        max_sentence_chars=q.max_sentence_chars,
        min_hangul_ratio=q.min_hangul_ratio,
        max_char_repeat=q.max_char_repeat,
        max_digit_ratio=q.max_digit_ratio,
        max_symbol_ratio=q.max_symbol_ratio,
        count_hanja_as_korean=p.style.hanja == "keep",
        drop_broken_chars=p.normalize.broken_chars == "drop_sentence",
    )


def _filter_sentences(doc: _Doc, sentence_filter: SentenceFilter, lexicon: Lexicon, p) -> list[Sentence]:
    t = p.toxicity
    limits = {
        "hate": t.hate_max_per_sentence,
        "profanity": t.profanity_max_per_sentence,
        "sexual": t.sexual_max_per_sentence,
        DISGUISED: t.disguised_max_per_sentence,
    }
    tally, counts, source = doc.out.after.sentences, doc.out.after.counts, doc.out.source
    out = []
    for sentence in doc.sentences:
        hits = lexicon.hits(sentence.text)
        if hits:
            counts["toxicity_hits"].update(hits)
            if any(n > limits[c] for c, n in hits.items()):
                tally.drop(source, "toxic")
                continue
        reason = sentence_filter.reason(sentence.text)
        if reason:
            tally.drop(source, reason)
            continue
        tally.keep(source)
        out.append(sentence)
    return out


def _finish(doc: _Doc, p: PreprocessParams) -> list[str]:
    """The document's record and its passages (too-short ones counted and dropped here); returns
    the passages' texts for their dedup keys."""
    out, ledger = doc.out, doc.out.after
    texts: list[str] = []
    if not doc.sentences:
        ledger.docs.drop(out.source, "no_sentences_left")
        return texts
    ledger.docs.keep(out.source)
    out.line = dumps_line(_document_record(doc))
    _account_kept(doc, ledger.stats)
    for passage in build_passages(doc.sentences, p.passage_chars):
        ledger.passages.take(out.source)
        if len(passage.text) < p.passage_min_chars:
            ledger.passages.drop(out.source, "too_short")
            continue
        pid = passage_id(out.doc_id, passage.ordinal)
        out.passages.append(
            PassageOut(pid, dumps_line(_passage_record(pid, doc, passage)), len(passage.text), None, None)
        )
        texts.append(passage.text)
    return texts


def _document_record(doc: _Doc) -> dict:
    r = doc.record
    if r.get("layout") == SENTENCE_PER_LINE:
        text = "\n".join(s.text for s in doc.sentences)
    else:
        text = "".join(s.text if i == 0 else s.sep + s.text for i, s in enumerate(doc.sentences))
    return {
        "id": r["id"],
        "source": doc.out.source,
        "url": r.get("url"),
        "title": r.get("title") or "",
        "author": r.get("author") or "",
        "genre": r.get("genre") or "",
        "published": r.get("published"),
        "layout": r.get("layout") or "paragraphs",
        "license": r.get("license"),
        "modern": doc.modern,
        "period_share": round(doc.period, 4),
        "n_sentences": len(doc.sentences),
        "n_chars": len(text),
        "text": text,
    }


def _passage_record(pid: str, doc: _Doc, passage) -> dict:
    r = doc.record
    return {
        "passage_id": pid,
        "doc_id": r["id"],
        "source": doc.out.source,
        "genre": r.get("genre") or "",
        "title": r.get("title") or "",
        "author": r.get("author") or "",
        "modern": doc.modern,
        "text": passage.text,
        "n_sentences": passage.n_sentences,
    }


def _account_kept(doc: _Doc, stats: dict[tuple[str, str], GroupStats]) -> None:
    lengths = [len(s.text) for s in doc.sentences]
    dialogue = sum(1 for s in doc.sentences if style.is_dialogue(s.text))
    ttr_sum, windows = _msttr([w for s in doc.sentences for w in _words(s.text)])
    for g in doc.groups:
        s = stats[g]
        s.docs_out += 1
        s.sentences_out += len(lengths)
        s.chars_out += sum(lengths)
        s.dialogue += dialogue
        s.ttr_sum += ttr_sum
        s.ttr_windows += windows
        s.sentence_lengths.update(lengths)


def _words(sentence: str) -> list[str]:
    return [w.strip(".,!?…'\"()[]<>—·:;~") for w in sentence.split() if w.strip(".,!?…'\"()[]<>—·:;~")]


def _msttr(words: list[str]) -> tuple[float, int]:
    """Sum of type-token ratios over full windows of MSTTR_WINDOW words, and the window count."""
    total, n = 0.0, 0
    for i in range(0, len(words) - MSTTR_WINDOW + 1, MSTTR_WINDOW):
        total += len(set(words[i : i + MSTTR_WINDOW])) / MSTTR_WINDOW
        n += 1
    return total, n
