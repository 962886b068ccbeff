"""``generate`` and ``compose`` params: sampling, the decoding engine, quality proxies, the work plan.

Every default of the two stages lives here. ``compose`` reuses ``generate``'s model, engine and proxy
settings (one model, one way of measuring), and adds the plan of the walking novel.
"""

from __future__ import annotations

import string
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section

BeatType = Literal["event", "narration", "repetition", "contemplation", "recollection", "walk"]
BEAT_TYPES: tuple[str, ...] = BeatType.__args__  # type: ignore[attr-defined]

# Placeholders a beat's prompt template may use (filled by compose, see compose.render_cue).
TEMPLATE_FIELDS = ("place", "theme", "echo")


class SamplingParams(Section):
    """How one continuation is sampled; applied in the order of Hugging Face's ``generate``."""

    do_sample: bool = True  # false: greedy (argmax) decoding; temperature/top_k/top_p are then unused
    temperature: float = Field(0.9, gt=0, le=5)
    top_k: int = Field(50, ge=0)  # 0 disables
    top_p: float = Field(0.95, gt=0, le=1)  # 1 disables
    # 1 disables; divides logits of tokens already in the text
    repetition_penalty: float = Field(1.2, ge=1, le=10)
    no_repeat_ngram_size: int = Field(3, ge=0, le=16)  # 0 disables; no token n-gram occurs twice
    max_new_tokens: int = Field(64, ge=1, le=4096)


class SamplingOverride(Section):
    """Per-beat-type changes to a base ``SamplingParams``; a missing key keeps the base value."""

    do_sample: bool | None = None
    temperature: float | None = Field(None, gt=0, le=5)
    top_k: int | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    repetition_penalty: float | None = Field(None, ge=1, le=10)
    no_repeat_ngram_size: int | None = Field(None, ge=0, le=16)


class EngineParams(Section):
    """The decoding loop. ``static`` is the fast path (KV cache allocated once, fixed shapes, optional
    ``torch.compile`` of the decode step, no host sync per token); ``plain`` is the reference loop
    (growing cache, one host sync per token). Both give the same samples for the same seed."""

    # auto: static on CUDA, plain on CPU (faster there for small models)
    kind: Literal["auto", "plain", "static"] = "auto"
    # torch.compile the static engine's one-token forward and sampling step (GPU runs; ~30 s warm-up on CPU)
    compile: bool = False
    # reduce-overhead = CUDA graphs
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "reduce-overhead"
    # tune each compiled kernel's launch shape (GPU: 8B decode 14% faster, ~25 s more warm-up;
    # max-autotune tunes them whatever this says)
    compile_tuning: bool = True
    # let Inductor put independent kernels into one launch (a block's q, k and v products; GPU: 8B
    # decode 4.5% faster on an H100, 2026-12-06)
    compile_combo_kernels: bool = True
    # the compiled engine's prompt forward: eager (launch-bound: 28-65 ms for an 8B prompt on H100s),
    # cuda_graph (the eager forward recorded once per prompt-length bucket and replayed; costs one
    # more forward to record), or compiled (one graph for every length; 13.6-17.5 ms, but 20-120 s
    # more warm-up)
    prefill: Literal["eager", "cuda_graph", "compiled"] = "cuda_graph"
    # cuda_graph: prompts are left-padded (masked) to a multiple of this many tokens, so that nearby
    # lengths share one recorded graph
    prompt_bucket: int = Field(32, ge=1, le=4096)
    # write each MLP activation out once in the decode graph instead of recomputing it in every
    # program of the down projection (GPU: 8B decode 5.3% faster on an H100, 2026-12-06)
    compile_realize_activation: bool = True
    # attention of the compiled one-token step on a GPU: fused, one Triton kernel per layer that
    # reads each key/value head's cache once for the query heads that share it (8B decode 4.1%
    # faster on an H100, 2026-12-06); the model's own (SDPA, with Hugging Face's copies of the cache
    # to every query head); or its eager matmul-softmax form, which Inductor fuses. Prompts keep SDPA.
    decode_attention: Literal["model", "eager", "fused"] = "fused"
    # static cache length rounded up to a multiple: fewer recompiles
    cache_bucket: int = Field(64, ge=1, le=65536)
    # static engine: look for "all rows ended" every N tokens
    stop_check_every: int = Field(16, ge=1, le=4096)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when available
    # auto: float32 on CPU, bfloat16 on CUDA
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(16, ge=1, le=4096)  # sequences decoded together (left padding)
    # CPU decoding threads (0: torch's default). Small models decode fastest on one, and several
    # threads on a busy machine wait for each other at every small op (bench/generate.py).
    cpu_threads: int = Field(1, ge=0, le=1024)


class ProxyParams(Section):
    """Automatic quality proxies computed for every sample (see ``sanchaek.proxies``)."""

    repeat_ngram: int = Field(3, ge=1, le=10)  # word n-gram size of repeated_ngram_rate
    copy_ngram_chars: int = Field(12, ge=4, le=200)  # character k-gram that seeds the overlap search
    # flag a sample whose longest overlap with training text is this long
    memorised_chars: int = Field(50, ge=4, le=100000)
    # passages retrieved per theme to build its lexicon (0: theme words only)
    lexicon_passages: int = Field(20, ge=0, le=1000)
    # most frequent analysed terms of those passages kept in the lexicon
    lexicon_size: int = Field(60, ge=1, le=10000)


class RetrievalParams(Section):
    """Retrieved passages as context before the prompt (a lorebook)."""

    enabled: bool = True
    k: int = Field(2, ge=1, le=50)
    max_chars: int = Field(200, ge=10, le=20000)  # each passage is cut to this many characters
    separator: str = "\n\n"


class PromptSpec(Section):
    # theme words, analysed by Nori for retrieval and relevance
    theme: str = Field(min_length=1, max_length=200)
    opening: str = Field(min_length=1, max_length=2000)  # the opening line the model continues


def _default_prompts() -> list[PromptSpec]:
    return [
        PromptSpec(theme="죽음", opening="오늘 엄마가 죽었다. 아니 어쩌면 어제,"),
        PromptSpec(theme="죽음", opening="장례식장을 나와 나는 오래 걸었다."),
        PromptSpec(theme="담대하다", opening="그는 담대한 얼굴로 문을 열었다."),
        PromptSpec(theme="산책", opening="저녁을 먹고 강둑을 따라 걸었다."),
    ]


class GenerateParams(Section):
    model: str = "models/lm"  # local save_pretrained folder or hub id
    seed: int = 1234
    samples_per_prompt: int = Field(2, ge=1, le=1000)
    # prompt tokens the model may see; an opening longer than this is an error, the lorebook is cut to fit
    max_prompt_tokens: int = Field(384, ge=1, le=32768)
    prompts: list[PromptSpec] = Field(default_factory=_default_prompts, min_length=1)
    sampling: SamplingParams = SamplingParams()
    retrieval: RetrievalParams = RetrievalParams()
    engine: EngineParams = EngineParams()
    proxies: ProxyParams = ProxyParams()


class ScoreWeights(Section):
    """Weights of the candidate score in compose: score = sum(weight * proxy). Signs say good or bad."""

    distinct_2: float = 1.0
    repeated_ngram_rate: float = -1.0
    theme_relevance: float = 1.0
    copy_rate: float = -2.0
    length_fit: float = 0.5  # generated tokens / asked tokens: punishes a candidate that ends at once
    reuse: float = -0.5  # share of word bigrams already used in earlier beats
    echo: float = 0.0  # 1 when the beat's echo phrase recurs in the continuation
    rating: float = 1.0  # predicted human rating (0..1) from reports/ratings.json, when it exists


class ScoreOverride(Section):
    distinct_2: float | None = None
    repeated_ngram_rate: float | None = None
    theme_relevance: float | None = None
    copy_rate: float | None = None
    length_fit: float | None = None
    reuse: float | None = None
    echo: float | None = None
    rating: float | None = None


class Beat(Section):
    type: BeatType
    theme: str = Field(min_length=1, max_length=200)  # retrieval query and relevance target
    place: str = ""  # where the walk is; fills {place}
    length: int = Field(48, ge=1, le=4096)  # new tokens to generate
    prompt: str = Field(min_length=1, max_length=2000)  # cue template; fields {place} {theme} {echo}
    # repetition beats: index of the earlier beat whose phrase returns
    echo_from: int | None = Field(None, ge=0)

    @field_validator("prompt")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise ValueError(f"bad template ({exc}); write literal braces as {{{{ and }}}}") from None
        unknown = [n for n in names if n not in TEMPLATE_FIELDS]
        if unknown:
            raise ValueError(
                f"unknown template field {{{unknown[0]}}}; allowed: " + ", ".join(TEMPLATE_FIELDS)
            )
        return value


def _default_plan() -> list[Beat]:
    """산책소설: a death is announced, then a walk through places; each place brings back a fragment
    of the past, the narrator's unsound thinking justifies it, and the first words keep returning."""
    b = Beat
    return [
        b(type="event", theme="죽음", length=40, prompt="아침에 전화가 왔다. 어머니가 돌아가셨다고 했다."),
        b(type="narration", theme="죽음", length=48, prompt="나는 전화를 끊고 한참을 앉아 있었다."),
        b(type="walk", theme="산책", place="골목", length=40, prompt="외투를 걸치고 {place}으로 나섰다."),
        b(
            type="recollection",
            theme="죽음",
            place="골목",
            length=56,
            prompt="이 {place}에서 어머니는 내 손을 놓은 적이 있다.",
        ),
        b(
            type="contemplation",
            theme="담대하다",
            length=56,
            prompt="그때 나는 담대했다고 생각한다. 그래야만 했으니까.",
        ),
        b(type="walk", theme="산책", place="강둑", length=40, prompt="{place}을 따라 바람이 불었다."),
        b(
            type="recollection",
            theme="죽음",
            place="강둑",
            length=56,
            prompt="{place} 끝에서 우리는 마지막으로 말다툼을 했다.",
        ),
        b(
            type="repetition",
            theme="죽음",
            length=48,
            prompt="{echo} 나는 그 말을 다시 떠올렸다.",
            echo_from=0,
        ),
        b(type="walk", theme="산책", place="다리", length=40, prompt="{place} 위에서 걸음을 멈췄다."),
        b(
            type="contemplation",
            theme="죽음",
            place="다리",
            length=56,
            prompt="어쩌면 잘못은 내게 없었다. 물은 원래 흘러가는 것이니까.",
        ),
        b(type="walk", theme="산책", place="시장", length=40, prompt="{place}은 여느 때처럼 시끄러웠다."),
        b(
            type="recollection",
            theme="죽음",
            place="시장",
            length=56,
            prompt="어머니는 이 {place}에서 늘 같은 생선을 샀다.",
        ),
        b(
            type="repetition",
            theme="죽음",
            length=48,
            prompt="{echo} 아니, 어쩌면 어제였는지도 모른다.",
            echo_from=0,
        ),
        b(type="walk", theme="산책", place="골목", length=40, prompt="다시 {place}으로 돌아왔다."),
        b(type="narration", theme="죽음", length=56, prompt="집 앞에 이르러서야 나는 울 수 있을 것 같았다."),
    ]


def _default_by_type_sampling() -> dict[str, SamplingOverride]:
    # Repetition is deliberate in repetition beats: no penalty, n-grams may recur. Elsewhere the base
    # settings suppress it; contemplation runs a little hotter (the narrator's unsound thinking).
    return {
        "repetition": SamplingOverride(repetition_penalty=1.0, no_repeat_ngram_size=0),
        "contemplation": SamplingOverride(temperature=1.0),
    }


def _default_by_type_scoring() -> dict[str, ScoreOverride]:
    return {"repetition": ScoreOverride(repeated_ngram_rate=0.0, reuse=0.5, echo=1.0)}


class ComposeParams(Section):
    seed: int = 1234
    title: str = Field("산책", min_length=1, max_length=200)
    candidates: int = Field(3, ge=1, le=64)  # continuations sampled per beat; the best by score is kept
    context_tokens: int = Field(160, ge=0, le=32768)  # window of the work so far the model sees
    # passages retrieved per beat (provenance; lorebook if lorebook_chars > 0)
    retrieval_k: int = Field(3, ge=0, le=50)
    # characters of each retrieved passage put before the window (0: none)
    lorebook_chars: int = Field(120, ge=0, le=20000)
    # a continuation sharing this many characters with a retrieved or training passage is disqualified
    max_copy_chars: int = Field(30, ge=8, le=100000)
    # the echoed phrase: first sentence of the echoed beat, cut to this
    echo_max_chars: int = Field(40, ge=4, le=2000)
    trim_to_sentence: bool = True  # cut each continuation after its last sentence end, if it has one
    headings: bool = True  # a heading per beat in work.md (else section breaks)
    # rated texts (reports/ratings.json) that predict a candidate's rating
    rating_neighbours: int = Field(5, ge=1, le=1000)
    sampling: SamplingParams = SamplingParams()
    by_type: dict[BeatType, SamplingOverride] = Field(default_factory=_default_by_type_sampling)
    scoring: ScoreWeights = ScoreWeights()
    scoring_by_type: dict[BeatType, ScoreOverride] = Field(default_factory=_default_by_type_scoring)
    plan: list[Beat] = Field(default_factory=_default_plan, min_length=1)

    @model_validator(mode="after")
    def _echoes_point_back(self) -> ComposeParams:
        for i, beat in enumerate(self.plan):
            uses_echo = "{echo}" in beat.prompt
            if beat.echo_from is not None and beat.echo_from >= i:
                raise ValueError(f"plan[{i}].echo_from = {beat.echo_from} must name an earlier beat (< {i})")
            if uses_echo and beat.echo_from is None:
                raise ValueError(f"plan[{i}].prompt uses {{echo}} but echo_from is not set")
        return self


def resolve_sampling(
    base: SamplingParams, override: SamplingOverride | None, *, max_new_tokens: int | None = None
) -> SamplingParams:
    """``base`` with the override's set keys (and the beat's length) applied."""
    update = {k: v for k, v in (override.model_dump() if override else {}).items() if v is not None}
    if max_new_tokens is not None:
        update["max_new_tokens"] = max_new_tokens
    return SamplingParams.model_validate({**base.model_dump(), **update})


def resolve_weights(base: ScoreWeights, override: ScoreOverride | None) -> ScoreWeights:
    update = {k: v for k, v in (override.model_dump() if override else {}).items() if v is not None}
    return ScoreWeights.model_validate({**base.model_dump(), **update})
