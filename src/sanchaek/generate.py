"""The generate stage and ``sanchaek write``: sampling continuations of Korean prompts with the
decoding engine of ``model.decoding``, and scoring them with the proxies.

The engine (static KV cache, compiled step, sampling on the device) lives in ``model.decoding``
and ``model.sampling``; prompt budgets, lorebooks, and the index and training text that samples are
scored against live in ``writing``; a theme is searched through ``search.theme_query``. Compose and
the benches share all three.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .cli import params_option
from .config import Params, load_params
from .config.generate import EngineParams, GenerateParams, SamplingParams
from .config.search import QueryParams
from .errors import SanchaekError
from .io import write_jsonl
from .model.decoding import (
    LoadedModel,
    clean_decoded,
    encode,
    load_model,
    sample_batch,
    tokens,
)
from .paths import Layout
from .report import write_stage_report
from .search.theme_query import theme_hits
from .writing import (
    ThemeLexicons,
    check_prompt,
    experiment_name,
    fit_prompt,
    load_training_text,
    open_search,
    prompt_budget,
    retrieval_context,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- the stage


@dataclass
class PromptPlan:
    theme: str
    opening: str
    context_ids: list[str]  # passage ids of the lorebook
    ids: list[int]


def plan_prompts(
    gp: GenerateParams, lm: LoadedModel, backend: Any, *, query: QueryParams
) -> list[PromptPlan]:
    """Each opening, after the passages retrieved for its theme (cut to fit the prompt budget); the
    theme is searched as the query stage searches it (synonyms, inflections of 듣다)."""
    budget = prompt_budget(lm, gp.max_prompt_tokens, gp.sampling.max_new_tokens)
    plans = []
    for i, spec in enumerate(gp.prompts):
        opening = tokens(lm.tokenizer, spec.opening)
        check_prompt(
            lm.prefix + opening,
            len(lm.prefix),
            budget,
            gp.max_prompt_tokens,
            what=f"generate.prompts[{i}].opening",
        )
        hits = theme_hits(backend, spec.theme, gp.retrieval.k, query)[0] if gp.retrieval.enabled else []
        lorebook = retrieval_context(hits, gp.retrieval.max_chars, gp.retrieval.separator)
        ids = fit_prompt(lm, lorebook=lorebook, body=opening, budget=budget)
        plans.append(PromptPlan(spec.theme, spec.opening, [h.passage_id for h in hits], ids))
    return plans


def generate_samples(
    gp: GenerateParams, lm: LoadedModel, backend: Any, copy_index: Any, *, experiment: str, query: QueryParams
) -> tuple[list[dict], dict]:
    """Samples with their proxies and the aggregate metrics. Pure given the model and the index.

    ``query``: themes are searched as the query stage searches them."""
    from .proxies import all_proxies, summarise

    plans = plan_prompts(gp, lm, backend, query=query)
    jobs = [(p, j) for p in plans for j in range(gp.samples_per_prompt)]
    started = time.perf_counter()
    outputs = sample_batch(lm, [p.ids for p, _ in jobs], gp.sampling, gp.engine, seed=gp.seed)
    seconds = time.perf_counter() - started
    lexicons = ThemeLexicons(backend, gp.proxies, query=query)
    sampling = gp.sampling.model_dump()
    records = []
    for n, ((plan, j), (text, n_tokens)) in enumerate(zip(jobs, outputs, strict=True)):
        proxies = all_proxies(
            text,
            n_tokens=n_tokens,
            repeat_ngram=gp.proxies.repeat_ngram,
            copy_index=copy_index,
            memorised_chars=gp.proxies.memorised_chars,
            lexicon=lexicons(plan.theme),
            analyze=backend.analyze,
        )
        records.append(
            {
                "id": f"{experiment}:{n}",
                "theme": plan.theme,
                # The prompt is the opening line; the lorebook passages (others' text, which must not
                # reach git through this tracked file) are recorded by id.
                "prompt": plan.opening,
                "prompt_tokens": len(plan.ids),
                "context_passage_ids": plan.context_ids,
                "sample_index": j,
                "seed": gp.seed,
                "sampling": sampling,
                "model": lm.name,
                "experiment": experiment,
                "text": text,
                "proxies": proxies,
            }
        )
    summary = summarise(records)
    n_new = sum(n for _, n in outputs)
    summary.update(
        {
            "new_tokens": n_new,
            "seconds": round(seconds, 3),
            "tokens_per_s": round(n_new / max(seconds, 1e-9), 1),
        }
    )
    return records, summary


def contenders(params: Params, layout: Layout) -> list[tuple[str, str]]:
    """(model, sample label) of each model to sample: ``generate.model`` under the experiment's name,
    and, when the align stage tuned that model (``align.contender``), the aligned model under
    ``<experiment>+aligned``: the Rate page pairs the two blind, so their win rate says whether
    alignment helped."""
    from .model.aligned import ALIGNED_LABEL_SUFFIX, aligned_variant

    experiment = experiment_name()
    models = [(params.generate.model, experiment)]
    aligned = aligned_variant(params.generate.model, layout.aligned_dir, layout.model_dir)
    if params.align.contender and aligned is not None:
        models.append((str(aligned), experiment + ALIGNED_LABEL_SUFFIX))
    return models


def run_generate(params: Params, layout: Layout) -> tuple[list[dict], dict]:
    """Samples of every contender (the same prompts and seed); the summary is the first contender's,
    with each contender's own under ``contenders``."""
    from .model.loading import check_model_dir

    gp = params.generate
    check_model_dir(gp.model)  # cheap checks first: a missing model or index fails in a second
    backend = open_search(params, layout)
    try:
        copy_index = load_training_text(layout, gp.proxies.copy_ngram_chars)
        records, summaries = [], {}
        for model, label in contenders(params, layout):
            lm = load_model(model, gp.engine)
            got, summaries[label] = generate_samples(gp, lm, backend, copy_index, experiment=label, query=params.query)
            records.extend(got)
        summary = dict(next(iter(summaries.values())))
        if len(summaries) > 1:
            summary["contenders"] = summaries
        return records, summary
    finally:
        backend.close()


# The proxies' means that steer decisions: reports/metrics/generate.json (the rest stays in generate.json).
GENERATE_HEADLINE = ("n_samples", "mean_distinct_2", "mean_repeated_ngram_rate", "mean_copy_rate",
                     "mean_theme_relevance", "memorised_share")  # fmt: skip


@click.command("generate")
@params_option
def command(params_path: str) -> None:
    """Sample texts for the theme prompts into reports/samples.jsonl, with quality proxies."""
    params = load_params(params_path)
    layout = Layout()
    records, summary = run_generate(params, layout)
    write_jsonl(layout.report("samples.jsonl"), records)
    write_stage_report(
        layout, "generate", summary, headline=GENERATE_HEADLINE, timing_keys=("seconds", "tokens_per_s")
    )
    click.echo(
        f"{summary['n_samples']} samples, {summary['new_tokens']} tokens at {summary['tokens_per_s']} tok/s, "
        f"{summary['memorised']} memorised -> {layout.report('samples.jsonl')}"
    )


# ---------------------------------------------------------------------------- sanchaek write


class TokenPrinter:
    """Print a single row's continuation as it is sampled: decode everything so far and print what
    is new, holding back a trailing partial character of byte-level BPE."""

    def __init__(self, tokenizer: Any, out: Callable[[str], None]):
        self.tokenizer = tokenizer
        self.out = out
        self.ids: list[int] = []
        self.shown = 0
        self.ended = False

    def __call__(self, token: Any) -> None:
        if self.ended:
            return
        tid = int(token[0])
        if tid == self.tokenizer.eos_token_id:
            self.ended = True
            return
        self.ids.append(tid)
        raw = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if raw.endswith("\ufffd"):  # maybe the first bytes of a character: wait for the rest
            return
        text = clean_decoded(raw)
        self.out(text[self.shown :])
        self.shown = len(text)


def write_text_stream(
    lm: LoadedModel,
    prompt: str,
    sampling: SamplingParams,
    engine: EngineParams,
    *,
    seed: int,
    max_prompt_tokens: int,
    out: Callable[[str], None],
) -> str:
    """Stream a continuation of ``prompt`` through ``out``; returns the whole continuation."""
    if not prompt.strip():
        raise SanchaekError("prompt is empty: give some text for the model to continue")
    ids = encode(lm, prompt)
    check_prompt(
        ids, len(lm.prefix), prompt_budget(lm, max_prompt_tokens, sampling.max_new_tokens), max_prompt_tokens
    )
    printer = TokenPrinter(lm.tokenizer, out)
    [(text, _)] = sample_batch(
        lm, [ids], sampling, engine.model_copy(update={"batch_size": 1}), seed=seed, on_token=printer
    )
    return text


def _override(model: Any, **values: Any) -> Any:
    set_values = {k: v for k, v in values.items() if v is not None}
    return type(model).model_validate({**model.model_dump(), **set_values})


@click.command("write")
@click.argument("prompt")
@params_option
@click.option("--model", "model_name", help="model folder or hub id [generate.model]")
@click.option("--temperature", type=float, help="[generate.sampling.temperature]")
@click.option("--top-p", type=float, help="[generate.sampling.top_p]")
@click.option("--top-k", type=int, help="[generate.sampling.top_k]")
@click.option("--repetition-penalty", type=float, help="[generate.sampling.repetition_penalty]")
@click.option("--no-repeat-ngram-size", type=int, help="[generate.sampling.no_repeat_ngram_size]")
@click.option("--max-new-tokens", type=int, help="[generate.sampling.max_new_tokens]")
@click.option("--greedy", is_flag=True, default=None, help="argmax decoding instead of sampling")
@click.option("--seed", type=int, help="[generate.seed]")
@click.option("--engine", type=click.Choice(["auto", "plain", "static"]), help="[generate.engine.kind]")
def write_command(
    prompt: str,
    params_path: str,
    model_name: str | None,
    seed: int | None,
    engine: str | None,
    greedy: bool | None,
    **sampling_flags: Any,
) -> None:
    """Stream a continuation of PROMPT to the terminal, token by token."""
    from pydantic import ValidationError

    from .config import format_validation_error

    if not prompt.strip():  # before the model loads: a second, not a minute
        raise SanchaekError("prompt is empty: give some text for the model to continue")
    gp = load_params(params_path).generate if Path(params_path).exists() else GenerateParams()
    try:
        sampling = _override(gp.sampling, do_sample=False if greedy else None, **sampling_flags)
        engine_params = _override(gp.engine, kind=engine)
    except ValidationError as exc:
        raise SanchaekError(format_validation_error(exc, "write flags", SamplingParams)) from None
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the terminal shows the text, not a loading bar
    lm = load_model(model_name or gp.model, engine_params)

    def out(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    out(prompt)
    write_text_stream(
        lm,
        prompt,
        sampling,
        engine_params,
        seed=gp.seed if seed is None else seed,
        max_prompt_tokens=gp.max_prompt_tokens,
        out=out,
    )
    out("\n")
