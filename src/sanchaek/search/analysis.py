"""The one Nori analysis definition, rendered for each backend.

``index.analysis`` in params uses Elasticsearch's ``analysis-nori`` vocabulary. This module turns that
single object into (a) the ``settings.analysis`` block of an Elasticsearch index and (b) the Lucene
factory chain of the embedded backend, so that both analyse text the same way.
"""

from __future__ import annotations

import hashlib
import json

from ..config.search import AnalysisParams

ANALYZER_NAME = "sanchaek_nori"
TOKENIZER_NAME = "sanchaek_nori_tokenizer"
POS_FILTER_NAME = "sanchaek_nori_pos"


def analysis_dict(analysis: AnalysisParams) -> dict:
    """Plain JSON view of the settings (what index metadata records and compares)."""
    return analysis.model_dump(mode="json")


def analysis_fingerprint(analysis: AnalysisParams) -> str:
    blob = json.dumps(analysis_dict(analysis), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def describe(analysis: AnalysisParams) -> str:
    """One human line, e.g. ``nori_tokenizer(discard) > nori_part_of_speech(18) > nori_readingform``."""
    tok = analysis.nori_tokenizer
    parts = [f"nori_tokenizer({tok.decompound_mode}, {len(tok.user_dictionary_rules)} user rules)"]
    if analysis.nori_number:
        parts.append("nori_number")
    if analysis.nori_part_of_speech.stoptags:
        parts.append(f"nori_part_of_speech({len(analysis.nori_part_of_speech.stoptags)} stoptags)")
    if analysis.nori_readingform:
        parts.append("nori_readingform")
    if analysis.lowercase:
        parts.append("lowercase")
    return " > ".join(parts)


# -- Elasticsearch ----------------------------------------------------------------------------


def elasticsearch_tokenizer(analysis: AnalysisParams) -> dict:
    tok = analysis.nori_tokenizer
    spec: dict = {
        "type": "nori_tokenizer",
        "decompound_mode": tok.decompound_mode,
        "discard_punctuation": tok.discard_punctuation,
    }
    if tok.user_dictionary_rules:
        spec["user_dictionary_rules"] = list(tok.user_dictionary_rules)
    return spec


def elasticsearch_filters(analysis: AnalysisParams) -> list[dict | str]:
    """The token filter chain, as inline definitions (usable in ``_analyze`` and in settings)."""
    chain: list[dict | str] = []
    if analysis.nori_number:
        chain.append("nori_number")
    if analysis.nori_part_of_speech.stoptags:
        chain.append({"type": "nori_part_of_speech", "stoptags": list(analysis.nori_part_of_speech.stoptags)})
    if analysis.nori_readingform:
        chain.append("nori_readingform")
    if analysis.lowercase:
        chain.append("lowercase")
    return chain


def elasticsearch_settings(analysis: AnalysisParams) -> dict:
    """``settings.analysis`` of the index: one custom analyzer named ``sanchaek_nori``."""
    filters: dict[str, dict] = {}
    names: list[str] = []
    for item in elasticsearch_filters(analysis):
        if isinstance(item, dict):
            filters[POS_FILTER_NAME] = item
            names.append(POS_FILTER_NAME)
        else:
            names.append(item)
    settings: dict = {
        "tokenizer": {TOKENIZER_NAME: elasticsearch_tokenizer(analysis)},
        "analyzer": {ANALYZER_NAME: {"type": "custom", "tokenizer": TOKENIZER_NAME, "filter": names}},
    }
    if filters:
        settings["filter"] = filters
    return settings


# -- Lucene -----------------------------------------------------------------------------------


def lucene_chain(
    analysis: AnalysisParams, user_dictionary_file: str | None
) -> list[tuple[str, dict[str, str]]]:
    """(factory class, args) pairs for Lucene's CustomAnalyzer, equivalent to the ES settings.

    ``user_dictionary_file`` is a file holding ``user_dictionary_rules`` one per line (Lucene's
    factory reads a resource, Elasticsearch takes the rules inline; the format is the same).
    """
    tok = analysis.nori_tokenizer
    tok_args = {
        "decompoundMode": tok.decompound_mode,
        "discardPunctuation": str(tok.discard_punctuation).lower(),
        "outputUnknownUnigrams": "false",
    }
    if user_dictionary_file is not None:
        tok_args["userDictionary"] = user_dictionary_file
    chain: list[tuple[str, dict[str, str]]] = [
        ("org.apache.lucene.analysis.ko.KoreanTokenizerFactory", tok_args)
    ]
    if analysis.nori_number:
        chain.append(("org.apache.lucene.analysis.ko.KoreanNumberFilterFactory", {}))
    # An empty stoptag list means "no filter": Lucene's factory would fall back to its defaults.
    if analysis.nori_part_of_speech.stoptags:
        tags = ",".join(analysis.nori_part_of_speech.stoptags)
        chain.append(("org.apache.lucene.analysis.ko.KoreanPartOfSpeechStopFilterFactory", {"tags": tags}))
    if analysis.nori_readingform:
        chain.append(("org.apache.lucene.analysis.ko.KoreanReadingFormFilterFactory", {}))
    if analysis.lowercase:
        chain.append(("org.apache.lucene.analysis.core.LowerCaseFilterFactory", {}))
    return chain


# -- `sanchaek analyze --json`: an Elasticsearch `_analyze` response --------------------------------


def utf16_offsets(text: str) -> list[int]:
    """UTF-16 offset of each Python string index of ``text`` (and of its end): what Java, Lucene and
    Elasticsearch count (an emoji is two units there, one character here)."""
    offsets, unit = [], 0
    for ch in text:
        offsets.append(unit)
        unit += 2 if ord(ch) > 0xFFFF else 1
    offsets.append(unit)
    return offsets


def analyze_response(text: str, tokens: list) -> dict:
    """``tokens`` (``base.Token``) as Elasticsearch's ``_analyze`` returns them: positions with the
    gaps that stopped tokens leave, ``positionLength`` where a token spans several positions (a
    compound kept whole in mixed mode), offsets in UTF-16 units; ``leftPOS`` as Nori's attribute."""
    units = utf16_offsets(text)
    out = []
    for i, t in enumerate(tokens):
        entry = {
            "token": t.term,
            "start_offset": units[t.start],
            "end_offset": units[t.end],
            "type": "word",
            "position": t.position if t.position >= 0 else i,
        }
        if t.position_length > 1:
            entry["positionLength"] = t.position_length
        entry["leftPOS"] = t.pos
        out.append(entry)
    return {"tokens": out}
