"""The generate stage and `sanchaek write` on a tiny locally built model and a real Nori index."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from click.testing import CliRunner
from test_generate_support import HEARD, HEARD_ID, PASSAGES, build_index, make_project, open_index

from sanchaek.cli import cli
from sanchaek.config import params_from_dict
from sanchaek.config.generate import EngineParams, SamplingParams
from sanchaek.errors import SanchaekError
from sanchaek.generate import run_generate, write_text_stream
from sanchaek.io import read_jsonl
from sanchaek.model.compiled_steps import compile_steps, compiled_or_eager, inductor_options
from sanchaek.model.decoding import clean_decoded, encode, load_model, sample_batch
from sanchaek.model.sampling import (
    apply_repetition_penalty,
    ban_repeated_ngrams,
    candidate_count,
    make_next_token,
    process_logits,
    top_candidates,
    top_k_filter,
    top_p_filter,
)
from sanchaek.paths import Layout
from sanchaek.writing import ThemeLexicons

PROMPTS = ["오늘 엄마가", "나는 강가를 따라 천천히 걸었다.", "다리", "어머니의 손은 따뜻했다. 나는", "골목"]


@pytest.fixture(scope="module")
def lm(tiny_lm_dir):
    return load_model(str(tiny_lm_dir), EngineParams(device="cpu"))


def _ids(lm, texts=PROMPTS):
    return [encode(lm, t) for t in texts]


# ---------------------------------------------------------------------------- sampling = Hugging Face's


def test_logit_processing_matches_hugging_face():
    from transformers import (
        LogitsProcessorList,
        NoRepeatNGramLogitsProcessor,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    g = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 6, (4, 15), generator=g)  # a small alphabet: many repeated n-grams
    valid = torch.ones_like(seq, dtype=torch.bool)
    logits = torch.randn(4, 40, generator=g) * 3
    assert torch.equal(
        apply_repetition_penalty(logits, seq, valid, 1.3),
        RepetitionPenaltyLogitsProcessor(1.3)(seq, logits.clone()),
    )
    cur = torch.tensor(seq.shape[1])
    for n in (2, 3):
        ours = ban_repeated_ngrams(logits, seq, valid, cur, n)
        assert torch.equal(ours, NoRepeatNGramLogitsProcessor(n)(seq, logits.clone()))
        assert torch.isinf(ours).any()  # the case is not vacuous
    assert torch.equal(top_k_filter(logits, 7), TopKLogitsWarper(7)(seq, logits.clone()))
    assert torch.equal(top_p_filter(logits, 0.8), TopPLogitsWarper(0.8)(seq, logits.clone()))
    s = SamplingParams(temperature=0.7, top_k=9, top_p=0.9, repetition_penalty=1.3, no_repeat_ngram_size=2)
    hf = LogitsProcessorList(
        [
            RepetitionPenaltyLogitsProcessor(1.3),
            NoRepeatNGramLogitsProcessor(2),
            TemperatureLogitsWarper(0.7),
            TopKLogitsWarper(9),
            TopPLogitsWarper(0.9),
        ]
    )
    assert torch.allclose(process_logits(logits, seq, valid, cur, s), hf(seq, logits.clone()))


def test_fixed_shape_processing_equals_processing_the_written_prefix():
    """The engines process the whole run buffer with a write position; what lies at or after it
    (not written yet) must not matter."""
    g = torch.Generator().manual_seed(1)
    written = torch.randint(0, 5, (3, 9), generator=g)
    logits = torch.randn(3, 30, generator=g)
    s = SamplingParams(temperature=0.8, top_k=10, top_p=0.9, repetition_penalty=1.5, no_repeat_ngram_size=2)
    exact = process_logits(logits, written, torch.ones_like(written, dtype=torch.bool), torch.tensor(9), s)
    buffer = torch.cat([written, torch.randint(0, 30, (3, 7), generator=g)], dim=1)
    valid = torch.zeros_like(buffer, dtype=torch.bool)
    valid[:, :9] = True
    assert torch.equal(process_logits(logits, buffer, valid, torch.tensor(9), s), exact)


def test_padding_is_not_text_for_the_penalties():
    seq = torch.tensor([[0, 0, 5, 6]])
    valid = torch.tensor([[False, False, True, True]])
    logits = torch.ones(1, 8)
    out = apply_repetition_penalty(logits, seq, valid, 2.0)
    assert out[0, 0] == 1.0 and out[0, 5] == 0.5 and out[0, 6] == 0.5
    # [0 0] at the pads would ban 0 after a 0 if pads counted; it must not
    seq = torch.tensor([[0, 0, 0]])
    pads = torch.tensor([[False, False, True]])
    assert not torch.isinf(ban_repeated_ngrams(logits, seq, pads, torch.tensor(3), 2)).any()


@pytest.mark.parametrize("kind", ["plain", "static"])
def test_greedy_decoding_matches_model_generate(lm, kind):
    same_length = [encode(lm, t) for t in ("오늘 엄마가", "다리 위에서")]
    same_length = [p[: min(map(len, same_length))] for p in same_length]
    s = SamplingParams(do_sample=False, repetition_penalty=1.3, no_repeat_ngram_size=2, max_new_tokens=12)
    ours = sample_batch(lm, same_length, s, EngineParams(kind=kind, device="cpu"), seed=0)
    hf = lm.model.generate(
        input_ids=torch.tensor(same_length),
        attention_mask=torch.ones(len(same_length), len(same_length[0]), dtype=torch.long),
        do_sample=False,
        repetition_penalty=1.3,
        no_repeat_ngram_size=2,
        max_new_tokens=12,
        pad_token_id=lm.tokenizer.pad_token_id,
    )
    for (text, n), row in zip(ours, hf[:, len(same_length[0]) :].tolist(), strict=True):
        ids = [t for t in row if t not in (lm.tokenizer.eos_token_id, lm.tokenizer.pad_token_id)]
        assert n == len(ids)
        assert text == clean_decoded(lm.tokenizer.decode(ids, skip_special_tokens=True))


def test_left_padded_batch_equals_one_prompt_at_a_time(lm):
    s = SamplingParams(do_sample=False, max_new_tokens=10)
    engine = EngineParams(kind="plain", device="cpu", batch_size=8)
    batched = sample_batch(lm, _ids(lm), s, engine, seed=0)
    alone = [sample_batch(lm, [p], s, engine, seed=0)[0] for p in _ids(lm)]
    assert batched == alone


# ---------------------------------------------------------------------------- the fast path


def test_static_engine_samples_exactly_like_the_plain_loop(lm):
    """Also across batches that reuse one static cache (two batches of 3, one cache bucket)."""
    s = SamplingParams(
        temperature=1.3,
        top_k=80,
        top_p=0.97,
        repetition_penalty=1.2,
        no_repeat_ngram_size=3,
        max_new_tokens=24,
    )
    prompts = _ids(lm, [*PROMPTS, "시장"])
    static = EngineParams(kind="static", device="cpu", batch_size=3, stop_check_every=5, cache_bucket=64)
    lm.static_caches.clear()
    for seed in (0, 1):
        plain = sample_batch(
            lm, prompts, s, EngineParams(kind="plain", device="cpu", batch_size=3), seed=seed
        )
        fast = sample_batch(lm, prompts, s, static, seed=seed)
        assert plain == fast
        assert len(lm.static_caches) == 1  # both batches, both seeds: one cache, reset and reused
        assert len({t for t, _ in plain}) > 1


@pytest.mark.parametrize("kind", ["static", "plain"])
def test_without_an_end_token_decoding_never_checks_for_ended_rows(lm, kind, monkeypatch):
    """The "all rows ended?" check is the loop's one host sync; with no end-of-sequence token no row
    can end, so it never runs, and the tokens are those of a run whose end token is never drawn."""
    from sanchaek.model.decoding import decode

    checks = []
    real_any = torch.Tensor.any

    def counting_any(self, *args, **kwargs):
        if self.dtype == torch.bool and self.shape == (2,):  # the (batch,) "unfinished" flags
            checks.append(1)
        return real_any(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "any", counting_any)
    engine = EngineParams(kind=kind, device="cpu", stop_check_every=4)
    s = SamplingParams(max_new_tokens=12)
    ids = torch.tensor([[lm.tokenizer.pad_token_id, *_ids(lm)[0][-3:]], _ids(lm)[0][-4:]])
    mask = (ids != lm.tokenizer.pad_token_id).long()
    pad = lm.tokenizer.pad_token_id
    # the pad id as end token: never sampled (it is not text), so no row ends and every check runs
    runs = {eos: decode(lm.model, ids, mask, s, engine, seed=3, eos_token_id=eos, pad_token_id=pad)
            for eos in (pad, None)}  # fmt: skip
    assert len(checks) == (11 if kind == "plain" else 2)  # all made by the run with an end token
    assert torch.equal(runs[pad].tokens, runs[None].tokens) and runs[pad].lengths == runs[None].lengths == [12, 12]


def test_calls_of_other_lengths_share_one_static_cache_with_min_cache_len(lm):
    """Compose's beats differ in prompt and continuation length; one cache means one compiled step."""
    static = EngineParams(kind="static", device="cpu", cache_bucket=8)
    plain = EngineParams(kind="plain", device="cpu")
    lm.static_caches.clear()
    for prompts, new_tokens in ((_ids(lm)[:2], 5), (_ids(lm)[1:3] + [_ids(lm)[0] * 3], 17)):
        s = SamplingParams(max_new_tokens=new_tokens)
        fast = sample_batch(lm, prompts[:2], s, static, seed=4, min_cache_len=96)
        assert fast == sample_batch(lm, prompts[:2], s, plain, seed=4)
    assert list(lm.static_caches) == [(2, 96)]


def test_calls_on_one_cache_compile_nothing_new(lm):
    """Compose's beats differ in length but share a cache: the second beat must reuse every compiled
    graph (the forward and the sampling step), or each beat would pay a compile on the GPU."""
    torch._dynamo.reset()
    compiles = []

    def counting_backend(gm, example_inputs):
        compiles.append(len(gm.graph.nodes))
        return gm.forward

    engine = EngineParams(kind="static", device="cpu", compile=True, cache_bucket=8)
    compiled = dataclasses.replace(lm, compiled=compile_steps(lm.model, engine, backend=counting_backend))
    compiled.static_caches.clear()
    s = SamplingParams(max_new_tokens=6, top_k=20)
    sample_batch(compiled, _ids(lm)[:2], s, engine, seed=1, min_cache_len=96)
    first = len(compiles)
    sample_batch(
        compiled, _ids(lm)[1:3], s.model_copy(update={"max_new_tokens": 11}), engine, seed=2, min_cache_len=96
    )
    assert first >= 2 and len(compiles) == first


def test_compiled_decode_step_samples_like_the_plain_loop(lm):
    """The static engine's decode step traced by torch.compile (the eager backend keeps this fast on
    CPU; GPU runs use inductor with CUDA graphs) gives the same tokens."""
    torch._dynamo.reset()
    engine = EngineParams(kind="static", device="cpu", compile=True)
    compiled = dataclasses.replace(lm, compiled=compile_steps(lm.model, engine, backend="eager"))
    s = SamplingParams(max_new_tokens=16)
    plain = sample_batch(lm, _ids(lm)[:3], s, EngineParams(kind="plain", device="cpu"), seed=5)
    fast = sample_batch(compiled, _ids(lm)[:3], s, engine, seed=5)
    assert plain == fast


def test_inductor_options_are_the_compile_mode_plus_kernel_tuning():
    """The engine compiles with options, not mode= (torch.compile takes one of the two): each mode
    keeps its own settings (CUDA graphs where the mode replays them), compile_tuning adds the
    coordinate-descent tuning, compile_combo_kernels Inductor's combo kernels, and torch.compile
    accepts every combination (it refuses an unknown option name when the wrapper is built)."""
    import itertools
    from typing import get_args

    from sanchaek.model.speed import compile_mode_uses_cudagraphs

    modes = get_args(EngineParams.model_fields["compile_mode"].annotation)
    for mode, tuning, combo in itertools.product(modes, (True, False), (True, False)):
        engine = EngineParams(compile=True, compile_mode=mode, compile_tuning=tuning, compile_combo_kernels=combo)
        options = inductor_options(engine)
        assert options.get("triton.cudagraphs", False) == compile_mode_uses_cudagraphs(mode)
        assert options.get("coordinate_descent_tuning", False) == (tuning or mode == "max-autotune")
        assert options.get("combo_kernels", False) == combo
        torch.compile(torch.nn.Linear(2, 2), dynamic=False, options=options)


def test_tuned_inductor_compile_computes_what_eager_does():
    """A real Inductor compile with the engine's default options (CPU codegen here) gives the eager
    output."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.SiLU(), torch.nn.Linear(32, 8))
    x = torch.randn(3, 16)
    compiled = torch.compile(layer, dynamic=False, options=inductor_options(EngineParams(compile_mode="default")))
    torch.testing.assert_close(compiled(x), layer(x))


@pytest.mark.parametrize("top_k", [20, 0])
def test_sampling_step_is_one_graph_without_host_syncs(top_k):
    """A host sync (.item(), a Python branch on a tensor) would break the graph; there is none."""
    torch._dynamo.reset()
    s = SamplingParams(
        temperature=0.8, top_k=top_k, top_p=0.9, repetition_penalty=1.3, no_repeat_ngram_size=3
    )
    seq = torch.randint(0, 50, (2, 24))
    valid = torch.ones_like(seq, dtype=torch.bool)
    logits, noise = torch.randn(2, 50), torch.empty(2, candidate_count(s, 50)).exponential_()
    explanation = torch._dynamo.explain(make_next_token(s))(logits, seq, valid, torch.tensor(20), noise)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1


@pytest.mark.parametrize(("k", "p"), [(20, 0.8), (20, 1.0), (7, 0.3), (200, 0.95)])
def test_top_candidates_give_the_distribution_of_the_vocabulary_filters(k, p):
    """Top-p among the top-k candidates equals Hugging Face's top-k then top-p over the vocabulary."""
    torch.manual_seed(3)
    logits = torch.randn(4, 200) * 3
    values, indices = top_candidates(logits, k, p)
    ours = torch.zeros_like(logits).scatter(1, indices, values.softmax(-1))
    reference = top_p_filter(top_k_filter(logits, k), p).softmax(-1)
    assert torch.allclose(ours, reference, atol=1e-6)


def test_a_sampler_whose_compilation_fails_runs_eagerly(caplog):
    def failing_backend(gm, example_inputs):
        raise RuntimeError("Error in codegen for SplitScan")

    def step(x):
        return x.softmax(-1).argmax(-1)

    x = torch.randn(3, 10)
    run = compiled_or_eager(step, failing_backend, what="the sampling step")
    assert torch.equal(run(x), step(x)) and torch.equal(run(x), step(x))
    assert "runs eagerly" in caplog.text and caplog.text.count("runs eagerly") == 1


def test_same_seed_same_samples_other_seed_other_samples(lm):
    s = SamplingParams(max_new_tokens=16)
    engine = EngineParams(device="cpu")
    a = sample_batch(lm, _ids(lm), s, engine, seed=11)
    assert a == sample_batch(lm, _ids(lm), s, engine, seed=11)
    assert a != sample_batch(lm, _ids(lm), s, engine, seed=12)


# ---------------------------------------------------------------------------- sanchaek write


def test_write_streams_token_by_token(lm):
    pieces: list[str] = []
    s = SamplingParams(max_new_tokens=20)
    text = write_text_stream(
        lm, "오늘 엄마가", s, EngineParams(device="cpu"), seed=3, max_prompt_tokens=64, out=pieces.append
    )
    assert len(pieces) > 3  # many pieces, not one
    assert "".join(pieces) == text


def test_write_command_prints_prompt_and_continuation(tiny_lm_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: defaults apply
    args = [
        "write",
        "나는 골목을",
        "--model",
        str(tiny_lm_dir),
        "--max-new-tokens",
        "8",
        "--seed",
        "4",
        "--temperature",
        "0.8",
    ]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("나는 골목을") and len(first.stdout) > len("나는 골목을\n")
    assert first.stdout == CliRunner().invoke(cli, args).stdout  # the seed fixes the stream


def test_write_rejects_bad_input(tiny_lm_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    empty = runner.invoke(cli, ["write", "  ", "--model", str(tiny_lm_dir)])
    assert isinstance(empty.exception, SanchaekError) and "prompt is empty" in str(empty.exception)
    bad = runner.invoke(cli, ["write", "골목", "--model", str(tiny_lm_dir), "--temperature", "-1"])
    assert isinstance(bad.exception, SanchaekError) and "temperature" in str(bad.exception)
    missing = runner.invoke(cli, ["write", "골목", "--model", str(tmp_path / "nope")])
    assert isinstance(missing.exception, SanchaekError) and "not found" in str(missing.exception)


def test_over_long_prompt_is_one_clear_line(lm):
    with pytest.raises(SanchaekError, match=r"tokens, more than max_prompt_tokens=4: shorten it") as err:
        write_text_stream(
            lm,
            "나는 강가를 따라 천천히 걸었다. 바람이 차가웠다.",
            SamplingParams(),
            EngineParams(device="cpu"),
            seed=0,
            max_prompt_tokens=4,
            out=print,
        )
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------- the stage


def test_generate_stage_is_deterministic_and_flags_memorised_samples(tiny_lm_dir, tmp_path, monkeypatch):
    make_project(
        tmp_path,
        tiny_lm_dir,
        generate={
            "samples_per_prompt": 2,
            "prompts": [
                {"theme": "죽음", "opening": "오늘 엄마가"},
                {"theme": "담대하다", "opening": "그는 문을 열었다."},
            ],
            "sampling": {"max_new_tokens": 40},
            "proxies": {"memorised_chars": 20},
        },
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["generate"]).exit_code == 0
    first = (tmp_path / "reports/samples.jsonl").read_bytes()
    assert runner.invoke(cli, ["generate"]).exit_code == 0
    assert (tmp_path / "reports/samples.jsonl").read_bytes() == first  # byte-identical for a seed

    samples = list(read_jsonl(tmp_path / "reports/samples.jsonl"))
    assert [(s["theme"], s["sample_index"]) for s in samples] == [
        ("죽음", 0),
        ("죽음", 1),
        ("담대하다", 0),
        ("담대하다", 1),
    ]
    one = samples[0]
    assert (
        one["prompt"] == "오늘 엄마가"
        and one["experiment"] == "workspace"
        and one["model"] == str(tiny_lm_dir)
    )
    assert one["sampling"]["max_new_tokens"] == 40 and one["seed"] == 1234
    assert one["context_passage_ids"] and all(pid.startswith("p") for pid in one["context_passage_ids"])
    assert set(one["proxies"]) >= {
        "n_tokens",
        "distinct_1",
        "distinct_2",
        "repeated_ngram_rate",
        "copy_rate",
        "memorised",
        "theme_relevance",
    }
    metrics = json.loads((tmp_path / "reports/generate.json").read_text())
    assert metrics["n_samples"] == 4 and metrics["memorised"] == 0

    # plant one generated text in the training split: that sample, and only texts sharing it, are flagged
    longest = max(samples, key=lambda s: len(s["text"]))
    assert len(longest["text"]) >= 20
    (tmp_path / "data/processed/train.jsonl").write_text(
        "".join(
            json.dumps({"text": t}, ensure_ascii=False) + "\n"
            for t in [*PASSAGES[:6], "앞 " + longest["text"] + " 뒤"]
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("DVC_EXP_NAME", "exp-planted")
    assert runner.invoke(cli, ["generate"]).exit_code == 0
    again = {s["id"].split(":")[1]: s for s in read_jsonl(tmp_path / "reports/samples.jsonl")}
    flagged = [s for s in again.values() if s["proxies"]["memorised"]]
    assert longest["text"] in [s["text"] for s in flagged]
    planted = next(s for s in flagged if s["text"] == longest["text"])
    assert (
        planted["proxies"]["copy_longest_chars"] == len(longest["text"])
        and planted["proxies"]["copy_rate"] == 1.0
    )
    assert planted["experiment"] == "exp-planted"


@pytest.mark.parametrize("expand", [True, False])
def test_a_dictionary_form_theme_finds_its_inflections_as_in_the_query_stage(tiny_lm_dir, tmp_path, expand):
    # query.expand_predicates decides for generate too: the lorebook and the lexicon of 듣다 see 들었다
    params = make_project(
        tmp_path,
        tiny_lm_dir,
        generate={
            "samples_per_prompt": 1,
            "prompts": [{"theme": "듣다", "opening": "비가 왔다."}],
            "sampling": {"max_new_tokens": 4},
        },
        query={"expand_predicates": expand},
    )
    build_index(tmp_path, [*PASSAGES, HEARD])
    records, _ = run_generate(params, Layout(tmp_path))
    assert records[0]["context_passage_ids"] == ([HEARD_ID] if expand else [])
    backend = open_index(tmp_path)
    try:
        lexicon = ThemeLexicons(backend, params.generate.proxies, query=params.query)("듣다")
    finally:
        backend.close()
    assert ("듣" in lexicon.terms) == expand  # 들었다 is read 듣; the theme alone is read 들
    assert lexicon.score(["빗소리", "듣"])["theme_terms_found"] == (1.0 if expand else 0.0)


def test_missing_index_model_or_training_text_fail_with_one_line(tiny_lm_dir, tmp_path):
    params = params_from_dict({"index": {"backend": "embedded"}, "generate": {"model": str(tiny_lm_dir)}})
    with pytest.raises(SanchaekError, match=r"index .*data/index not found: run `sanchaek index`"):
        run_generate(params, Layout(tmp_path))
    params = make_project(tmp_path, tmp_path / "no-model")
    with pytest.raises(SanchaekError, match=r"no-model not found"):
        run_generate(params, Layout(tmp_path))
    (tmp_path / "data/processed/train.jsonl").unlink()
    params = params_from_dict({"index": {"backend": "embedded"}, "generate": {"model": str(tiny_lm_dir)}})
    with pytest.raises(SanchaekError, match=r"train.jsonl not found: run `sanchaek query`"):
        run_generate(params, Layout(tmp_path))


def test_params_reject_bad_sampling_values():
    with pytest.raises(SanchaekError, match=r"generate.sampling.top_p = 1.5 is invalid"):
        params_from_dict({"generate": {"sampling": {"top_p": 1.5}}})
    with pytest.raises(SanchaekError, match=r"unknown key 'generate.sampling.topp'"):
        params_from_dict({"generate": {"sampling": {"topp": 0.9}}})
    with pytest.raises(SanchaekError, match=r"generate.prompts.0.opening"):
        params_from_dict({"generate": {"prompts": [{"theme": "죽음", "opening": ""}]}})
    with pytest.raises(SanchaekError, match=r"generate.engine.prefill = 'graph' is invalid: allowed: 'eager', 'cuda_graph'"):
        params_from_dict({"generate": {"engine": {"prefill": "graph"}}})
    with pytest.raises(SanchaekError, match=r"generate.engine.prompt_bucket = 0 is invalid"):
        params_from_dict({"generate": {"engine": {"prompt_bucket": 0}}})
    with pytest.raises(SanchaekError, match=r"generate.engine.decode_attention = 'flash' is invalid: allowed: 'model', 'eager' or 'fused'"):
        params_from_dict({"generate": {"engine": {"decode_attention": "flash"}}})
