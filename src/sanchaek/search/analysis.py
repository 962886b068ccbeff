"""The one Nori analysis definition, rendered for each backend.

``index.analysis`` in params uses Elasticsearch's ``analysis-nori`` vocabulary. This module turns that
single object into (a) the ``settings.analysis`` block of an Elasticsearch index and (b) the Lucene
factory chain of the embedded backend, so that both analyse text the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Literal

from ..config.search import NORI_TAG_GROUPS, AnalysisParams
from ..errors import SanchaekError

ANALYZER_NAME = "sanchaek_nori"
TOKENIZER_NAME = "sanchaek_nori_tokenizer"
POS_FILTER_NAME = "sanchaek_nori_pos"

# Which of Nori's two tag vocabularies a Lucene version speaks (see config.search.NORI_TAG_GROUPS).
TagSet = Literal["coarse", "detailed"]
DETAILED_TO_COARSE = {tag: coarse for coarse, group in NORI_TAG_GROUPS.items() for tag in group}
EMBEDDED_TAGSET: TagSet = "coarse"  # Debian's Lucene 8.8 jars


# -- part-of-speech tags, coarse <-> detailed ---------------------------------------------------


def tagset_of(lucene_version: str) -> TagSet:
    """Lucene 10 split E and J into detailed tags; 8.x and 9.x keep the coarse ones."""
    major = lucene_version.split(".", 1)[0]
    return "detailed" if major.isdigit() and int(major) >= 10 else "coarse"


def coarse_tag(tag: str) -> str:
    """The tag in Lucene 8/9 terms: EF -> E, JKS -> J, every other tag as it is."""
    return DETAILED_TO_COARSE.get(tag, tag)


def is_ending(tag: str) -> bool:
    """An ending (어미) in either vocabulary: E, or EP/EF/EC/ETN/ETM."""
    return coarse_tag(tag) == "E"


def stoptags_for(tags: Iterable[str], tagset: TagSet) -> list[str]:
    """``tags`` (either form, as params allow) in the vocabulary of ``tagset``, order kept, no repeats.

    coarse -> detailed is exact (E is every ending); detailed -> coarse is exact only for a whole
    group, so a part of one (EF without EC) cannot run on Lucene 8/9 and is refused.
    """
    tags = list(dict.fromkeys(tags))
    if tagset == "detailed":
        return list(dict.fromkeys(t for tag in tags for t in NORI_TAG_GROUPS.get(tag, (tag,))))
    out: list[str] = []
    for tag in tags:
        coarse = coarse_tag(tag)
        if coarse != tag and coarse not in tags:
            missing = [t for t in NORI_TAG_GROUPS[coarse] if t not in tags]
            if missing:
                raise SanchaekError(
                    f"index.analysis.nori_part_of_speech.stoptags lists {tag} but not {' '.join(missing)}, "
                    f"which Lucene 8/9 (the embedded index, Elasticsearch 8) cannot tell apart (all are {coarse}): "
                    f"list all of {' '.join(NORI_TAG_GROUPS[coarse])}, or {coarse}, or none"
                )
        out.append(coarse)
    return list(dict.fromkeys(out))


def canonical_stoptags(tags: Iterable[str]) -> list[str]:
    """One spelling of a stoptag set: whole detailed groups collapse to E/J, in first-seen order."""
    tags = list(tags)
    out: list[str] = []
    for tag in tags:
        coarse = coarse_tag(tag)
        whole = coarse == tag or coarse in tags or all(t in tags for t in NORI_TAG_GROUPS[coarse])
        out.append(coarse if whole else tag)
    return list(dict.fromkeys(out))


def analysis_dict(analysis: AnalysisParams) -> dict:
    """Plain JSON view of the settings (what index metadata records and compares)."""
    return analysis.model_dump(mode="json")


def analysis_fingerprint(analysis: AnalysisParams) -> str:
    """Hash of the settings; E and EP/EF/EC/ETN/ETM (J and its parts) spell the same analysis."""
    canonical = analysis_dict(analysis)
    canonical["nori_part_of_speech"]["stoptags"] = canonical_stoptags(analysis.nori_part_of_speech.stoptags)
    blob = json.dumps(canonical, sort_keys=True, ensure_ascii=False)
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


def elasticsearch_filters(analysis: AnalysisParams, tagset: TagSet = "coarse") -> list[dict | str]:
    """The token filter chain, as inline definitions (usable in ``_analyze`` and in settings).

    ``tagset``: the stoptags in the server's vocabulary (``tagset_of`` its Lucene version).
    """
    chain: list[dict | str] = []
    if analysis.nori_number:
        chain.append("nori_number")
    if analysis.nori_part_of_speech.stoptags:
        tags = stoptags_for(analysis.nori_part_of_speech.stoptags, tagset)
        chain.append({"type": "nori_part_of_speech", "stoptags": tags})
    if analysis.nori_readingform:
        chain.append("nori_readingform")
    if analysis.lowercase:
        chain.append("lowercase")
    return chain


def elasticsearch_settings(analysis: AnalysisParams, tagset: TagSet = "coarse") -> dict:
    """``settings.analysis`` of the index: one custom analyzer named ``sanchaek_nori``."""
    filters: dict[str, dict] = {}
    names: list[str] = []
    for item in elasticsearch_filters(analysis, tagset):
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
    analysis: AnalysisParams, user_dictionary_file: str | None, tagset: TagSet = EMBEDDED_TAGSET
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
        tags = ",".join(stoptags_for(analysis.nori_part_of_speech.stoptags, tagset))
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
