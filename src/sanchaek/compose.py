"""The compose stage: the walking novel (산책소설), beat by beat.

The talk's recipe as a plan in params: an event happens and is narrated; then narration repeats or
turns into the contemplation of a narrator who only thinks (and thinks unsoundly, justifying a
confused past); fragments of recollection become acceptable because they are told as a walk.

For every beat of ``compose.plan``:
1. retrieve passages for its theme from the index, as the query stage searches it (a dictionary-form
   predicate also finds its inflections) — provenance, and (``lorebook_chars``) a little context
   before the window; their text never enters the work (checked at the end);
2. render the beat's cue from its template ({place}, {theme}, {echo}: a phrase of an earlier beat);
3. sample ``candidates`` continuations of (lorebook + the last ``context_tokens`` of the work + cue)
   with the beat type's sampling (repetition beats relax the penalties);
4. drop candidates that copy ``max_copy_chars`` characters from a retrieved or training passage,
   score the rest by the proxies (and a rating predicted from human votes, when there are any),
   keep the best and say why it won.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import click

from .cli import params_option
from .config import Params, load_params
from .config.generate import (
    Beat,
    ComposeParams,
    GenerateParams,
    ScoreWeights,
    resolve_sampling,
    resolve_weights,
)
from .config.search import QueryParams
from .io import read_json, read_jsonl, write_json, write_text
from .paths import Layout
from .proxies import OverlapIndex, distinct_n, ngrams, repeated_ngram_rate, reuse_rate, words
from .search.theme_query import theme_hits

# A sentence ends at . ! ? … (or their full-width forms), optionally followed by closing quotes.
_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’」』)]*(?=\s|$)")
_BEAT_SEED_STRIDE = 1009  # beat i samples with seed + i * stride; batches within a beat add 0, 1, …

# ---------------------------------------------------------------------------- text helpers


def first_sentence(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    match = _SENTENCE_END.search(text)
    sentence = text[: match.end()] if match else text
    return sentence[:max_chars].strip()


def trim_to_sentence(text: str) -> str:
    """Cut after the last sentence end, so a beat does not stop mid-word (unchanged if none)."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()] if ends else text


def render_cue(beat: Beat, echo: str) -> str:
    return beat.prompt.format(place=beat.place, theme=beat.theme, echo=echo).strip()


def beat_prompt(
    lm: Any,
    work_text: str,
    cue: str,
    lorebook: str,
    context_tokens: int,
    max_prompt_tokens: int,
    max_new_tokens: int,
    *,
    what: str,
) -> tuple[list[int], str]:
    """Token ids the model continues — lorebook, the last ``context_tokens`` of the work, the cue —
    and the readable part of them (window + cue; the lorebook is recorded by passage id).

    The cue must fit; the window gives way next, then the lorebook, when the budget is short.
    """
    from .model.decoding import clean_decoded, tokens
    from .writing import check_prompt, fit_prompt, prompt_budget

    budget = prompt_budget(lm, max_prompt_tokens, max_new_tokens)
    cue_ids = tokens(lm.tokenizer, ("\n\n" if work_text else "") + cue)
    check_prompt(lm.prefix + cue_ids, len(lm.prefix), budget, max_prompt_tokens, what=what)
    room = min(context_tokens, budget - len(lm.prefix) - len(cue_ids))
    window = tokens(lm.tokenizer, work_text)[-room:] if room > 0 else []
    ids = fit_prompt(lm, lorebook=lorebook, body=window + cue_ids, budget=budget)
    shown = clean_decoded(lm.tokenizer.decode(window + cue_ids, skip_special_tokens=True)).strip()
    return ids, shown


def cut_copies(text: str, indexes: Sequence[OverlapIndex], max_chars: int) -> str:
    """Cut ``text`` before its first span shared with a reference, until no such span remains."""
    while text:
        spans = [o for o in (ix.longest_overlap(text) for ix in indexes) if o.chars >= max_chars]
        if not spans:
            return text
        text = trim_to_sentence(text[: min(o.start for o in spans)]).rstrip()
    return text


# ---------------------------------------------------------------------------- human ratings


def _char_bigrams(text: str) -> Counter[str]:
    t = "".join(text.split())
    return Counter(t[i : i + 2] for i in range(len(t) - 1))


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


class RatingPredictor:
    """A rating for unseen text: the similarity-weighted mean of the ratings of its nearest rated
    texts (cosine over character bigrams). ``None`` when nothing rated resembles it."""

    def __init__(self, rated: Sequence[tuple[str, float]], neighbours: int):
        self.rated = [(_char_bigrams(text), value) for text, value in rated]
        self.neighbours = neighbours

    def __len__(self) -> int:
        return len(self.rated)

    def predict(self, text: str) -> float | None:
        profile = _char_bigrams(text)
        sims = sorted(((_cosine(profile, p), v) for p, v in self.rated), key=lambda sv: -sv[0])[
            : self.neighbours
        ]
        total = sum(s for s, _ in sims)
        return sum(s * v for s, v in sims) / total if total > 0 else None


def rated_texts(ratings: dict, samples: Sequence[dict]) -> list[tuple[str, float]]:
    """(text, value in 0..1) for every rated sample whose text we have.

    Keys read from ``reports/ratings.json`` (written by ``sanchaek ratings export``):
    ``score_max`` and ``samples.<sample_id>.{scores, wins, losses, ties}``. A sample's value is the
    mean of its criterion scores rescaled from 1..score_max to 0..1, or else its win rate (a tie is
    half a win). Texts come from ``reports/samples.jsonl``, joined on ``sanchaek.votes.samples.sample_id``
    of (experiment, prompt, text).
    """
    from .votes.samples import sample_id

    by_id = {
        sample_id(r.get("experiment") or "workspace", r.get("prompt", ""), r.get("text", "")): r["text"]
        for r in samples
        if r.get("text")
    }
    score_max = ratings.get("score_max") or 5
    out = []
    for sid, info in sorted((ratings.get("samples") or {}).items()):
        if sid not in by_id or not isinstance(info, dict):
            continue
        scores = [s for s in (info.get("scores") or {}).values() if isinstance(s, int | float)]
        wins, losses, ties = (info.get(k) or 0 for k in ("wins", "losses", "ties"))
        if scores:
            value = (sum(scores) / len(scores) - 1) / (score_max - 1)
        elif wins + losses + ties:
            value = (wins + 0.5 * ties) / (wins + losses + ties)
        else:
            continue
        out.append((by_id[sid], min(max(value, 0.0), 1.0)))
    return out


def load_rating_predictor(layout: Layout, neighbours: int) -> RatingPredictor:
    """Ratings as far as they exist: a missing ratings.json or samples.jsonl means no ratings."""
    path = layout.report("ratings.json")
    samples_path = layout.report("samples.jsonl")
    if not path.exists() or not samples_path.exists():
        return RatingPredictor([], neighbours)
    ratings = read_json(path, what="ratings", fix="rerun `sanchaek ratings export`")
    samples = list(read_jsonl(samples_path, on_error="skip"))
    return RatingPredictor(rated_texts(ratings if isinstance(ratings, dict) else {}, samples), neighbours)


# ---------------------------------------------------------------------------- scoring


@dataclass
class Candidate:
    text: str  # the continuation (after trimming)
    n_tokens: int
    features: dict[str, float]
    contributions: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    copy_longest_chars: int = 0
    disqualified: str = ""  # why it may not be chosen ("" if it may)


def candidate_features(
    text: str,
    n_tokens: int,
    *,
    beat: Beat,
    echo: str,
    earlier_bigrams: set[tuple[str, ...]],
    lexicon: Any,
    analyze: Any,
    repeat_ngram: int,
    copy_chars: int,
    rating: float | None,
) -> dict[str, float]:
    ws = words(text)
    echo_words = set(words(echo))
    features = {
        "distinct_2": distinct_n(ws, 2),
        "repeated_ngram_rate": repeated_ngram_rate(ws, repeat_ngram),
        "theme_relevance": lexicon.score([t.term for t in analyze(text)])["theme_relevance"] if text else 0.0,
        "copy_rate": copy_chars / len(text) if text else 0.0,
        "length_fit": min(1.0, n_tokens / beat.length),
        "reuse": reuse_rate(ws, earlier_bigrams, 2),
        "echo": len(echo_words & set(ws)) / len(echo_words) if echo_words else 0.0,
    }
    if rating is not None:
        features["rating"] = rating
    return features


def score(features: dict[str, float], weights: ScoreWeights) -> tuple[float, dict[str, float]]:
    w = weights.model_dump()
    contributions = {k: round(w[k] * v, 6) for k, v in features.items()}
    return round(sum(contributions.values()), 6), contributions


def explain(chosen: Candidate, others: Sequence[Candidate]) -> str:
    """Why the chosen candidate won, in one line: its margin and the proxies that made it."""
    rivals = [c for c in others if c is not chosen and not c.disqualified]
    dropped = sum(1 for c in others if c.disqualified)
    tail = f"; {dropped} disqualified for copying" if dropped else ""
    if not rivals:
        return ("the only candidate left" if dropped else "the only candidate") + tail
    runner = max(rivals, key=lambda c: c.score)
    diffs = sorted(
        ((chosen.contributions.get(k, 0) - runner.contributions.get(k, 0), k) for k in chosen.contributions),
        reverse=True,
    )
    reasons = ", ".join(f"{k} {d:+.3f}" for d, k in diffs[:2] if d > 0)
    if chosen.score == runner.score:
        return f"tied with the runner-up at {chosen.score:.3f}; the earlier candidate wins" + tail
    return (
        f"score {chosen.score:.3f} vs runner-up {runner.score:.3f}"
        + (f" ({reasons})" if reasons else "")
        + tail
    )


def pick(candidates: Sequence[Candidate]) -> int:
    """Best qualified candidate; ties go to the earlier one (deterministic)."""
    qualified = [i for i, c in enumerate(candidates) if not c.disqualified]
    pool = qualified or list(range(len(candidates)))
    return max(pool, key=lambda i: (candidates[i].score, -i))


# ---------------------------------------------------------------------------- the composition


@dataclass
class BeatResult:
    index: int
    type: str
    theme: str
    place: str
    cue: str
    echo: str
    seed: int
    prompt: str  # the window + cue the model saw (the lorebook is recorded by passage id only)
    prompt_tokens: int
    retrieved: list[dict]
    sampling: dict
    weights: dict
    candidates: list[dict]
    chosen: int
    reason: str
    continuation: str
    text: str  # cue + continuation: what the work shows


def compose_work(
    cp: ComposeParams,
    gp: GenerateParams,
    lm: Any,
    backend: Any,
    copy_index: OverlapIndex,
    ratings: RatingPredictor,
    *,
    experiment: str,
    query: QueryParams,
) -> dict:
    """The whole work as a dict (work.json); pure given the model, the index and the ratings.

    ``query``: beat themes are searched as the query stage searches them."""
    from .model.decoding import sample_batch
    from .writing import ThemeLexicons

    lexicons = ThemeLexicons(backend, gp.proxies, query=query)
    # One static KV cache long enough for every beat: one compiled decode step for the whole work.
    cache_len = gp.max_prompt_tokens + max(beat.length for beat in cp.plan)
    beats: list[BeatResult] = []
    retrieved_indexes: list[OverlapIndex] = []
    work_text = ""
    earlier_bigrams: set[tuple[str, ...]] = set()
    for i, beat in enumerate(cp.plan):
        hits = theme_hits(backend, beat.theme, cp.retrieval_k, query)[0] if cp.retrieval_k else []
        retrieved_index = OverlapIndex(
            [h.text for h in hits], min(gp.proxies.copy_ngram_chars, cp.max_copy_chars)
        )
        echo = (
            first_sentence(beats[beat.echo_from].text, cp.echo_max_chars)
            if beat.echo_from is not None
            else ""
        )
        cue = render_cue(beat, echo)
        sampling = resolve_sampling(cp.sampling, cp.by_type.get(beat.type), max_new_tokens=beat.length)
        lorebook = (
            "".join(h.text[: cp.lorebook_chars].strip() + "\n\n" for h in hits) if cp.lorebook_chars else ""
        )
        ids, shown_prompt = beat_prompt(
            lm,
            work_text,
            cue,
            lorebook,
            cp.context_tokens,
            gp.max_prompt_tokens,
            sampling.max_new_tokens,
            what=f"compose.plan[{i}].prompt",
        )
        weights = resolve_weights(cp.scoring, cp.scoring_by_type.get(beat.type))
        seed = cp.seed + i * _BEAT_SEED_STRIDE
        outputs = sample_batch(
            lm, [ids] * cp.candidates, sampling, gp.engine, seed=seed, min_cache_len=cache_len
        )

        candidates = []
        for raw, n_tokens in outputs:
            text = (trim_to_sentence(raw) if cp.trim_to_sentence else raw).strip()
            longest = max(copy_index.longest_overlap(text).chars, retrieved_index.longest_overlap(text).chars)
            rating = ratings.predict(text) if len(ratings) else None
            features = candidate_features(
                text,
                n_tokens,
                beat=beat,
                echo=echo,
                earlier_bigrams=earlier_bigrams,
                lexicon=lexicons(beat.theme),
                analyze=backend.analyze,
                repeat_ngram=gp.proxies.repeat_ngram,
                copy_chars=longest,
                rating=rating,
            )
            total, contributions = score(features, weights)
            disqualified = (
                f"shares {longest} characters with a source passage (limit {cp.max_copy_chars})"
                if longest >= cp.max_copy_chars
                else ""
            )
            candidates.append(
                Candidate(text, n_tokens, features, contributions, total, longest, disqualified)
            )
        chosen = pick(candidates)
        winner = candidates[chosen]
        reason = explain(winner, candidates)
        continuation = winner.text
        if winner.disqualified:  # every candidate copied: keep the best one up to its first copied span
            continuation = cut_copies(continuation, [copy_index, retrieved_index], cp.max_copy_chars)
            reason += "; all candidates copied, so the best was cut before its copied span"
        text = (cue + " " + continuation).strip() if continuation else cue
        beats.append(
            BeatResult(
                index=i,
                type=beat.type,
                theme=beat.theme,
                place=beat.place,
                cue=cue,
                echo=echo,
                seed=seed,
                prompt=shown_prompt,
                prompt_tokens=len(ids),
                retrieved=[
                    {
                        "passage_id": h.passage_id,
                        "doc_id": h.doc_id,
                        "score": round(h.score, 6),
                        "title": getattr(h, "title", ""),
                    }
                    for h in hits
                ],
                sampling=sampling.model_dump(),
                weights=weights.model_dump(),
                candidates=[asdict(c) for c in candidates],
                chosen=chosen,
                reason=reason,
                continuation=continuation,
                text=text,
            )
        )
        retrieved_indexes.append(retrieved_index)
        work_text = (work_text + "\n\n" + text).strip()
        earlier_bigrams |= set(ngrams(words(text), 2))

    assert_no_copied_passages(beats, retrieved_indexes, cp.max_copy_chars)
    return {
        "title": cp.title,
        "model": lm.name,
        "experiment": experiment,
        "seed": cp.seed,
        "engine": gp.engine.model_dump(),
        "ratings_used": len(ratings),
        "n_beats": len(beats),
        "beats": [asdict(b) for b in beats],
    }


def assert_no_copied_passages(
    beats: Sequence[BeatResult], indexes: Sequence[OverlapIndex], max_chars: int
) -> None:
    """Retrieved passages are provenance, never part of the work: no generated span may repeat one."""
    for beat, index in zip(beats, indexes, strict=True):
        overlap = index.longest_overlap(beat.continuation)
        if overlap.chars >= max_chars:
            raise AssertionError(
                f"beat {beat.index} repeats {overlap.chars} characters of a retrieved passage"
            )


BEAT_LABELS = {
    "event": "사건",
    "narration": "서술",
    "repetition": "반복",
    "contemplation": "사색",
    "recollection": "회상",
    "walk": "걷기",
}


def render_markdown(work: dict, headings: bool) -> str:
    """The readable work: a title, then each beat under a heading (or after a section break)."""
    lines = [f"# {work['title']}", ""]
    for beat in work["beats"]:
        if headings:
            where = f" — {beat['place']}" if beat["place"] else ""
            lines += [f"## {beat['index'] + 1}. {BEAT_LABELS[beat['type']]}{where}", ""]
        elif beat["index"] > 0:
            lines += ["* * *", ""]
        lines += [beat["text"], ""]
    lines += ["---", "", f"*{work['model']} · {work['experiment']} · seed {work['seed']}*", ""]
    return "\n".join(lines)


def run_compose(params: Params, layout: Layout) -> dict:
    from .model.aligned import aligned_variant
    from .model.decoding import load_model
    from .model.loading import check_model_dir
    from .writing import experiment_name, load_training_text, open_search

    gp, cp = params.generate, params.compose
    check_model_dir(gp.model)
    # The aligned model when the align stage tuned generate.model (the trained model), else that model.
    model = str(aligned_variant(gp.model, layout.aligned_dir, layout.model_dir) or gp.model)
    backend = open_search(params, layout)
    try:
        # k no longer than the copy limit, or a copied span between the two would go unseen
        copy_index = load_training_text(layout, min(gp.proxies.copy_ngram_chars, cp.max_copy_chars))
        ratings = load_rating_predictor(layout, cp.rating_neighbours)
        lm = load_model(model, gp.engine)
        return compose_work(
            cp,
            gp,
            lm,
            backend,
            copy_index,
            ratings,
            experiment=experiment_name(),
            query=params.query,
        )
    finally:
        backend.close()


@click.command("compose")
@params_option
def command(params_path: str) -> None:
    """Compose the walking novel into reports/work.md and reports/work.json."""
    params = load_params(params_path)
    layout = Layout()
    work = run_compose(params, layout)
    write_json(layout.report("work.json"), work)
    write_text(layout.report("work.md"), render_markdown(work, params.compose.headings))
    click.echo(f"{work['n_beats']} beats -> {layout.report('work.md')}")
