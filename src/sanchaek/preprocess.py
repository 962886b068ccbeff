"""``sanchaek preprocess``: KLUE-style cleaning of data/raw into documents and passages.

Order (each step counted in reports/preprocess.json):
  read raw (bad lines: error or counted skip) -> normalize (NFC, HTML, boilerplate, punctuation)
  -> style measures (hanja ratio, period spellings; before conversion) -> hanja -> hangul
  -> document filters (length, repeated lines, non-prose, toxicity density, modernity)
  -> document exact + near dedup -> sentence split (one batched Kiwi call)
  -> per sentence: PII, toxicity, quality -> passages -> passage exact + near dedup.

``preprocess(raw_files, params)`` is the pure core (files in, plain data out); ``command`` writes
its result atomically. Output is deterministic: same input and params, same bytes.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click

from .cli import params_option
from .config import PreprocessParams, load_params
from .errors import SanchaekError
from .io import write_json, write_jsonl
from .paths import Layout
from .report import write_stage_report, write_timings
from .text import style
from .text.dedup import ExactDeduper, NearDeduper
from .text.filters import QualityRules, SentenceFilter, list_line_share, repeated_line_share
from .text.normalize import NormalizeOptions, Normalizer, hanja_to_hangul
from .text.passages import Sentence, build_passages, passage_id
from .text.pii import PiiScrubber
from .text.sentences import SentenceSplitter
from .text.toxicity import DISGUISED, load_lexicon

log = logging.getLogger(__name__)

SENTENCE_PER_LINE = "sentence_per_line"
MSTTR_WINDOW = 100  # words per window of the mean segmental type-token ratio (lexical diversity)
MODERNITY_LADDER = (0.002, 0.005, 0.01, 0.02, 0.05)


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
# counting


class Tally:
    """in / out / dropped-by-reason, overall and per source; ``in == out + sum(dropped)`` holds."""

    def __init__(self) -> None:
        self.n_in: Counter = Counter()
        self.n_out: Counter = Counter()
        self.dropped: dict[str, Counter] = defaultdict(Counter)

    def take(self, source: str, n: int = 1) -> None:
        self.n_in[source] += n

    def keep(self, source: str, n: int = 1) -> None:
        self.n_out[source] += n

    def drop(self, source: str, reason: str, n: int = 1) -> None:
        self.dropped[source][reason] += n

    def report(self) -> dict:
        total: Counter = Counter()
        for counts in self.dropped.values():
            total.update(counts)
        return {
            "in": sum(self.n_in.values()),
            "out": sum(self.n_out.values()),
            "dropped": dict(sorted(total.items())),
            "per_source": {
                s: {
                    "in": self.n_in[s],
                    "out": self.n_out[s],
                    "dropped": dict(sorted(self.dropped[s].items())),
                }
                for s in sorted(self.n_in)
            },
        }


@dataclass
class GroupStats:
    """Accumulators for reports/sources.json (one per source, genre, layout and origin)."""

    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    sentences_in: int = 0
    sentences_out: int = 0
    dialogue: int = 0
    hanja: int = 0
    hangul: int = 0
    period_words: int = 0
    words: int = 0
    modern_docs: int = 0
    measured_docs: int = 0
    ttr_sum: float = 0.0
    ttr_windows: int = 0
    sentence_lengths: list[int] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# the core


@dataclass
class Doc:
    source: str
    record: dict
    text: str
    modern: bool
    period: float
    groups: list[tuple[str, str]]
    units: list[str] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)


@dataclass
class PreprocessResult:
    documents: list[dict]
    passages: list[dict]
    report: dict
    sources: dict


def preprocess(
    files: list[Path], p: PreprocessParams, *, timings: dict[str, float] | None = None
) -> PreprocessResult:
    """Run the whole stage on raw JSONL files; ``timings`` (if given) receives seconds per step."""
    timings = timings if timings is not None else {}
    clock = _Clock(timings)
    bad = BadLines(p.on_bad_line)
    docs_t, sents_t, pass_t = Tally(), Tally(), Tally()
    stats: dict[tuple[str, str], GroupStats] = defaultdict(GroupStats)
    counts: dict[str, Counter] = defaultdict(Counter)

    normalizer = Normalizer(
        NormalizeOptions(
            html=p.normalize.html,
            page_markers=p.normalize.page_markers,
            corner_quotes=p.normalize.corner_quotes == "ascii",
            boilerplate=tuple(p.normalize.boilerplate),
        )
    )
    lexicon = load_lexicon(p.toxicity.lexicon)
    exact_docs, near_docs = ExactDeduper(), _near(p)

    # 1. read + normalize + document filters + document dedup
    kept: list[Doc] = []
    for source, record in iter_raw(files, bad):
        with clock("normalize+style+hanja"):
            doc = _prepare(source, record, normalizer, p, docs_t, stats, counts)
        if doc is None:
            continue
        with clock("filters"):
            reason = _document_reason(doc, p, lexicon, counts)
        if reason is None:
            with clock("dedup"):
                reason = _dedup_reason(doc.record["id"], doc.text, p, exact_docs, near_docs)
        if reason:
            docs_t.drop(source, reason)
            continue
        kept.append(doc)

    # 2. sentences: one batched splitter call over every unit of every kept paragraph document
    with clock("split"):
        _split(kept, p)
    for doc in kept:
        for g in doc.groups:
            stats[g].sentences_in += len(doc.sentences)

    # 3. per sentence: PII, toxicity, quality
    with clock("pii"):
        scrubber = PiiScrubber(p.pii.kinds)
        for doc in kept:
            doc.sentences = _scrub(doc, scrubber, p, sents_t, counts)
    with clock("filters"):
        sentence_filter = SentenceFilter(_rules(p))
        for doc in kept:
            doc.sentences = _filter_sentences(doc, sentence_filter, lexicon, p, sents_t, counts)

    # 4. documents out, passages, passage dedup
    documents, passages = [], []
    exact_pass, near_pass = ExactDeduper(), _near(p)
    for doc in kept:
        if not doc.sentences:
            docs_t.drop(doc.source, "no_sentences_left")
            continue
        docs_t.keep(doc.source)
        documents.append(_document_record(doc))
        _account_kept(doc, stats)
        with clock("passages"):
            built = build_passages(doc.sentences, p.passage_chars)
        for passage in built:
            pass_t.take(doc.source)
            pid = passage_id(doc.record["id"], passage.ordinal)
            if len(passage.text) < p.passage_min_chars:
                pass_t.drop(doc.source, "too_short")
                continue
            with clock("dedup"):
                reason = _dedup_reason(pid, passage.text, p, exact_pass, near_pass)
            if reason:
                pass_t.drop(doc.source, reason)
                continue
            pass_t.keep(doc.source)
            passages.append(_passage_record(pid, doc, passage))

    report = _report(p, files, bad, docs_t, sents_t, pass_t, counts, passages)
    sources = _sources_report(stats, p)
    return PreprocessResult(documents, passages, report, sources)


class _Clock:
    def __init__(self, timings: dict[str, float]):
        self.timings = timings
        self._step = ""
        self._t0 = 0.0

    def __call__(self, step: str) -> _Clock:
        self._step = step
        return self

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self._step] = self.timings.get(self._step, 0.0) + time.perf_counter() - self._t0


def _near(p: PreprocessParams) -> NearDeduper | None:
    d = p.dedup
    return NearDeduper(d.near_threshold, d.num_perm, d.shingle_chars, d.seed) if d.near else None


def _prepare(source, record, normalizer, p, docs_t, stats, counts) -> Doc | None:
    docs_t.take(source)
    raw_text = record["text"]
    groups = _groups(source, record)
    for g in groups:
        stats[g].docs_in += 1
        stats[g].chars_in += len(raw_text)
    text, boilerplate = normalizer.document(raw_text)
    counts["normalize"]["boilerplate_lines_removed"] += boilerplate
    if not text:
        docs_t.drop(source, "empty_after_cleaning")
        return None
    return _measure_style(source, record, text, groups, p, stats, counts)


def _measure_style(source, record, text, groups, p, stats, counts) -> Doc:
    # style is measured on the normalized text, before hanja are read as hangul
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
    return Doc(source, record, text, modern, period, groups)


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


def _document_reason(doc: Doc, p: PreprocessParams, lexicon, counts) -> str | None:
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


def _dedup_reason(key: str, text: str, p: PreprocessParams, exact: ExactDeduper, near: NearDeduper | None):
    if p.dedup.exact and exact.check(key, text) is not None:
        return "exact_duplicate"
    if near is not None and near.check(key, text) is not None:
        return "near_duplicate"
    return None


def _split(docs: list[Doc], p: PreprocessParams) -> None:
    """Fill ``doc.sentences`` (text + separator); paragraph documents go through the splitter."""
    to_split: list[tuple[Doc, int, str]] = []  # (doc, line index, line)
    for doc in docs:
        lines = [ln for ln in doc.text.split("\n") if ln.strip()]
        if doc.record.get("layout") == SENTENCE_PER_LINE:
            doc.sentences = [Sentence(ln, " ") for ln in lines]
        else:
            to_split.extend((doc, i, ln) for i, ln in enumerate(lines))
    if not to_split:
        return
    splitter = SentenceSplitter(
        p.split.splitter,
        quote_aware=p.split.quote_aware,
        workers=p.split.workers,
        max_quote_chars=p.split.max_quote_chars,
        kiwi_min_chars=p.split.kiwi_min_chars,
    )
    for batch in _batches(to_split, p.split.batch_chars):
        units = [line for _, _, line in batch]
        for (doc, _, line), spans in zip(batch, splitter.split_spans(units), strict=True):
            for k, (s, e) in enumerate(spans):
                doc.sentences.append(Sentence(line[s:e], "\n" if k == 0 else " "))


def _batches(items: list[tuple[Doc, int, str]], batch_chars: int) -> Iterator[list[tuple[Doc, int, str]]]:
    batch, size = [], 0
    for item in items:
        batch.append(item)
        size += len(item[2])
        if size >= batch_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _scrub(doc: Doc, scrubber: PiiScrubber, p: PreprocessParams, sents_t: Tally, counts) -> list[Sentence]:
    out = []
    for sentence in doc.sentences:
        sents_t.take(doc.source)
        if len(sentence.text) > p.quality.max_sentence_chars:
            out.append(sentence)  # dropped as too_long by the quality filter: not worth scrubbing
            continue
        text, found = scrubber.scrub(sentence.text)
        if found:
            counts["pii"].update(found)
            if p.pii.action == "drop":
                sents_t.drop(doc.source, "pii")
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


def _filter_sentences(doc, sentence_filter, lexicon, p, sents_t, counts) -> list[Sentence]:
    t = p.toxicity
    limits = {
        "hate": t.hate_max_per_sentence,
        "profanity": t.profanity_max_per_sentence,
        "sexual": t.sexual_max_per_sentence,
        DISGUISED: t.disguised_max_per_sentence,
    }
    out = []
    for sentence in doc.sentences:
        hits = lexicon.hits(sentence.text)
        if hits:
            counts["toxicity_hits"].update(hits)
            if any(n > limits[c] for c, n in hits.items()):
                sents_t.drop(doc.source, "toxic")
                continue
        reason = sentence_filter.reason(sentence.text)
        if reason:
            sents_t.drop(doc.source, reason)
            continue
        sents_t.keep(doc.source)
        out.append(sentence)
    return out


def _document_record(doc: Doc) -> dict:
    r = doc.record
    if r.get("layout") == SENTENCE_PER_LINE:
        text = "\n".join(s.text for s in doc.sentences)
    else:
        text = "".join(s.text if i == 0 else s.sep + s.text for i, s in enumerate(doc.sentences))
    return {
        "id": r["id"],
        "source": doc.source,
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


def _passage_record(pid: str, doc: Doc, passage) -> dict:
    r = doc.record
    return {
        "passage_id": pid,
        "doc_id": r["id"],
        "source": doc.source,
        "genre": r.get("genre") or "",
        "title": r.get("title") or "",
        "author": r.get("author") or "",
        "modern": doc.modern,
        "text": passage.text,
        "n_sentences": passage.n_sentences,
    }


def _account_kept(doc: Doc, stats: dict[tuple[str, str], GroupStats]) -> None:
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
        s.sentence_lengths.extend(lengths)


def _words(sentence: str) -> list[str]:
    return [w.strip(".,!?…'\"()[]<>—·:;~") for w in sentence.split() if w.strip(".,!?…'\"()[]<>—·:;~")]


def _msttr(words: list[str]) -> tuple[float, int]:
    """Sum of type-token ratios over full windows of MSTTR_WINDOW words, and the window count."""
    total, n = 0.0, 0
    for i in range(0, len(words) - MSTTR_WINDOW + 1, MSTTR_WINDOW):
        total += len(set(words[i : i + MSTTR_WINDOW])) / MSTTR_WINDOW
        n += 1
    return total, n


# ------------------------------------------------------------------------------------------------
# reports


def _report(p, files, bad, docs_t, sents_t, pass_t, counts, passages) -> dict:
    documents, sentences, passage_counts = docs_t.report(), sents_t.report(), pass_t.report()
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
        "characters_out": sum(len(x["text"]) for x in passages),
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
        "mean_sentence_chars": round(statistics.fmean(s.sentence_lengths), 2),
    }


def _criteria(s: GroupStats, reference: float | None) -> dict:
    mean_len = statistics.fmean(s.sentence_lengths) if s.sentence_lengths else 0.0
    return {
        "quality": {
            "mean_sentence_chars": round(mean_len, 2),
            "median_sentence_chars": statistics.median(s.sentence_lengths) if s.sentence_lengths else 0,
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
    result = preprocess(raw_files(layout.raw_dir), p, timings=timings)
    write_jsonl(layout.documents, result.documents)
    write_jsonl(layout.passages, result.passages)
    write_stage_report(layout, "preprocess", result.report, headline=PREPROCESS_HEADLINE)
    write_json(layout.report("sources.json"), result.sources)
    log.info("preprocess steps (s): %s", {k: round(v, 2) for k, v in timings.items()})
    seconds = time.perf_counter() - started
    write_timings(
        layout,
        "preprocess",
        {"seconds": round(seconds, 3), "steps": {k: round(v, 3) for k, v in timings.items()}},
    )
    return {"seconds": seconds, **result.report}


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
