"""LoRA and QLoRA (train.method) on tiny random Llama, Qwen2, GPT-NeoX and Gemma models saved to a temp
folder: training, what changes, saving and loading with peft's own loaders, merging, resuming, the
memory plan and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import KOREAN_LINES
from test_train import make_project

from sanchaek.config import params_from_dict
from sanchaek.errors import SanchaekError

ARCHITECTURES = {
    "llama": ("LlamaConfig", {"num_key_value_heads": 2}),
    "qwen2": ("Qwen2Config", {"num_key_value_heads": 2}),
    "gpt_neox": ("GPTNeoXConfig", {}),
    "gemma": ("GemmaConfig", {"num_key_value_heads": 2, "head_dim": 16}),
}
# The linear layers of each architecture's blocks, as its modeling code names them.
BLOCK_LINEARS = {
    "llama": ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
    "qwen2": ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
    "gemma": ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
    "gpt_neox": ["dense", "dense_4h_to_h", "dense_h_to_4h", "query_key_value"],
}


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    from sanchaek.model.scratch import train_bpe_tokenizer

    out = tmp_path_factory.mktemp("tok")
    train_bpe_tokenizer(KOREAN_LINES * 4, 300).save_pretrained(out)
    return out


def save_tiny(kind: str, out: Path, tokenizer_dir: Path) -> Path:
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cls_name, extra = ARCHITECTURES[kind]
    config = getattr(transformers, cls_name)(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=256, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, initializer_range=0.2, **extra,
    )  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, tokenizer_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_models")
    return {kind: save_tiny(kind, root / kind, tokenizer_dir) for kind in ARCHITECTURES}


def lora_params(model_dir: Path, **train) -> object:
    base = {
        "seed": 7, "seq_len": 32, "micro_batch_size": 4, "max_steps": 12, "lr": 5e-2, "warmup_steps": 2,
        "log_every": 2, "eval_every": 6, "eval_max_blocks": 8, "eval_batch_size": 4, "checkpoint_every": 6,
        "mixed_precision": "no", "method": "lora", "lora": {"rank": 8, "alpha": 16.0},
    }  # fmt: skip
    lora = {**base["lora"], **train.pop("lora", {})}
    base.update(train)
    base["lora"] = lora
    return params_from_dict({"model": {"name_or_path": str(model_dir)}, "train": base})


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(model_dir).state_dict().items()}


# ----------------------------------------------------------------------------- targets and errors


@pytest.mark.parametrize("kind", list(ARCHITECTURES))
def test_default_targets_are_every_block_linear_layer_per_architecture(kind, tiny_models):
    from sanchaek.model.adapters import resolve_target_modules
    from sanchaek.model.loading import load_causal_lm

    model, _ = load_causal_lm(str(tiny_models[kind]))
    assert resolve_target_modules(model, "all") == BLOCK_LINEARS[kind]
    assert resolve_target_modules(model, BLOCK_LINEARS[kind][:1]) == BLOCK_LINEARS[kind][:1]


def test_an_image_text_model_gets_adapters_in_its_text_decoder_alone():
    """Gemma 3's image-text model (what AutoModelForCausalLM builds for its configs) has a vision
    tower of blocks with q_proj, k_proj ... too: no adapter may land there, and the memory plan must
    not count its layers among the adapted ones."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3Config

    from sanchaek.config.model import LoraParams
    from sanchaek.model.adapters import add_lora, block_linear_names
    from sanchaek.model.memory_plan import model_shape

    config = Gemma3Config(
        text_config={"vocab_size": 300, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
                     "max_position_embeddings": 64, "sliding_window": 16},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
        mm_tokens_per_image=4,
    )  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    text = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert block_linear_names(model) == text  # not the tower's fc1, fc2, out_proj
    assert sorted(model_shape(config).linear_shapes) == text
    assert all(len(dims) == 2 for dims in model_shape(config).linear_shapes.values())  # 2 text layers each
    peft_model = add_lora(model, LoraParams(rank=4), tokenizer=[0] * 300, gradient_checkpointing=False)
    adapted = {name.rsplit(".lora_A", 1)[0] for name, _ in peft_model.named_parameters() if ".lora_A." in name}
    assert len(adapted) == 2 * len(text)
    assert all(".language_model.layers." in name for name in adapted), sorted(adapted)[:3]


def test_an_unknown_target_module_fails_in_one_line_listing_the_real_names(tiny_models, tmp_path):
    from sanchaek.train import train

    params = lora_params(tiny_models["gpt_neox"], lora={"target_modules": ["q_proj", "dense"]})
    with pytest.raises(SanchaekError) as err:
        train(params, make_project(tmp_path), live_dir=None)
    message = str(err.value)
    assert "\n" not in message and "q_proj" in message
    assert "query_key_value" in message and "dense_h_to_4h" in message  # the real names, to pick from


def test_qlora_on_cpu_fails_in_one_line_before_loading(tiny_models, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    from sanchaek.train import train

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
    params = lora_params(tiny_models["llama"], method="qlora", mixed_precision="bf16")
    with pytest.raises(SanchaekError, match="qlora needs a CUDA GPU") as err:
        train(params, make_project(tmp_path), live_dir=None)
    assert "\n" not in str(err.value)
    # And the params refuse qlora without bf16 compute.
    with pytest.raises(Exception, match="qlora computes in bf16"):
        lora_params(tiny_models["llama"], method="qlora", mixed_precision="no")


def test_lora_on_a_scratch_model_names_the_fix(tmp_path):
    from sanchaek.train import train

    params = params_from_dict(
        {
            "model": {"name_or_path": "scratch:tiny", "vocab_size": 300, "tokenizer_extra_text": None},
            "train": {"method": "lora", "max_steps": 2, "mixed_precision": "no"},
        }
    )
    with pytest.raises(SanchaekError, match="adapts a pretrained model"):
        train(params, make_project(tmp_path), live_dir=None)


# ----------------------------------------------------------------------------- training and outputs


@pytest.mark.parametrize("kind", list(ARCHITECTURES))
def test_lora_lowers_the_loss_and_changes_only_the_adapter(kind, tiny_models, tmp_path, monkeypatch):
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM

    from sanchaek import train as train_module
    from sanchaek.model.adapters import is_adapter_dir
    from sanchaek.model.data import load_blocks
    from sanchaek.model.lm_eval import evaluate_lm
    from sanchaek.model.loading import load_causal_lm, load_tokenizer

    base_dir = tiny_models[kind]
    before = weights(base_dir)
    trained: dict[str, torch.Tensor] = {}
    save_model = train_module.save_model

    def keep_trained_weights(accelerator, model, *args, **kwargs):
        lm = accelerator.unwrap_model(model).lm  # on a GPU too: compared with CPU loads below
        trained.update({k: v.detach().cpu().clone() for k, v in lm.state_dict().items()})
        return save_model(accelerator, model, *args, **kwargs)

    monkeypatch.setattr(train_module, "save_model", keep_trained_weights)
    layout = make_project(tmp_path)
    result = train_module.train(lora_params(base_dir), layout, live_dir=None)

    blocks = load_blocks(layout.val_split, load_tokenizer(str(base_dir)), 32, tmp_path / "cache")
    untrained = evaluate_lm(load_causal_lm(str(base_dir))[0], blocks, batch_size=4, max_blocks=8)["loss"]
    assert result.final["val_loss"] < untrained - 0.25, (untrained, result.history)

    # In the trained model, every base tensor is bit-identical to the base's; the adapters moved.
    adapters = {k: v for k, v in trained.items() if "lora_" in k}
    assert adapters and all(v.abs().max() > 0 for k, v in adapters.items() if "lora_B" in k)  # B starts at 0
    for key, value in trained.items():
        if "lora_" not in key:
            assert torch.equal(value, before[key.replace(".base_layer", "")]), key

    # models/lm holds the adapter alone and names its base; peft's two loaders read it back and
    # run the trained function (the run's own val loss).
    out = layout.model_dir
    assert is_adapter_dir(out) and not (out / "model.safetensors").exists()
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        base_dir.resolve()
    )
    auto = AutoPeftModelForCausalLM.from_pretrained(out).eval()
    explicit = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), out).eval()
    for loaded in (auto, explicit):
        state = {
            k.replace("base_model.model.", "", 1).replace(".default", ""): v
            for k, v in loaded.state_dict().items()
        }
        for key, value in adapters.items():
            assert torch.equal(state[key.replace(".default", "")], value), key
        loss = evaluate_lm(loaded, blocks, batch_size=4, max_blocks=8)["loss"]
        # On a GPU the run evaluated on the card (cuBLAS's sums, our fused loss): 0.6-1.0e-4 from
        # the CPU's (H100, 2026-12-06); a wrong adapter moves the loss by far more.
        assert loss == pytest.approx(result.final["val_loss"], abs=1e-3 if torch.cuda.is_available() else 1e-5)


@pytest.mark.parametrize("kind", ["llama", "gpt_neox"])
def test_merged_and_unmerged_logits_agree_and_every_consumer_loads_the_adapter(kind, tiny_models, tmp_path):
    from peft import AutoPeftModelForCausalLM

    from sanchaek.model.adapters import MERGED_DIR
    from sanchaek.model.loading import load_causal_lm
    from sanchaek.train import train

    layout = make_project(tmp_path)
    train(lora_params(tiny_models[kind], max_steps=6, merge_adapter=True), layout, live_dir=None)
    out = layout.model_dir
    assert (out / MERGED_DIR / "config.json").exists()
    ids = torch.randint(0, 300, (2, 24), generator=torch.Generator().manual_seed(0))
    f64 = torch.float64  # the merge is exact; fp32 would only measure its own rounding (~1e-5 here)
    with torch.no_grad():
        unmerged = AutoPeftModelForCausalLM.from_pretrained(out, dtype=f64).eval()(input_ids=ids).logits
        merged_saved = load_causal_lm(str(out), dtype=f64)[0](input_ids=ids).logits  # merged/ is preferred
        (out / MERGED_DIR / "config.json").unlink()  # only the adapter: merged in memory
        merged_memory = load_causal_lm(str(out), dtype=f64)[0](input_ids=ids).logits
    assert (unmerged - merged_saved).abs().max() < 1e-5
    assert (unmerged - merged_memory).abs().max() < 1e-5


def test_generate_and_write_run_on_an_adapter_folder(tiny_models, tmp_path):
    from sanchaek.config.generate import EngineParams, SamplingParams
    from sanchaek.generate import write_text_stream
    from sanchaek.model.decoding import load_model
    from sanchaek.train import train

    layout = make_project(tmp_path)
    train(lora_params(tiny_models["qwen2"], max_steps=4), layout, live_dir=None)
    lm = load_model(str(layout.model_dir), EngineParams(device="cpu"))
    assert type(lm.model).__name__ == "Qwen2ForCausalLM"  # merged weights: a plain model runs the engine
    pieces: list[str] = []
    write_text_stream(
        lm, "오늘 엄마가", SamplingParams(max_new_tokens=8, do_sample=False), EngineParams(device="cpu"),
        seed=1, max_prompt_tokens=64, out=pieces.append,
    )  # fmt: skip
    assert pieces


def test_sanchaek_merge_writes_a_plain_model(tiny_models, tmp_path):
    from click.testing import CliRunner
    from transformers import AutoModelForCausalLM

    from sanchaek.cli import cli
    from sanchaek.train import train

    layout = make_project(tmp_path)
    train(lora_params(tiny_models["llama"], max_steps=4), layout, live_dir=None)
    res = CliRunner().invoke(cli, ["merge", "--model", str(layout.model_dir)])
    assert res.exit_code == 0, res.output
    assert AutoModelForCausalLM.from_pretrained(layout.model_dir / "merged").config.model_type == "llama"
    res = CliRunner().invoke(cli, ["merge", "--model", str(tiny_models["llama"])])
    assert isinstance(res.exception, SanchaekError) and "not a LoRA adapter folder" in str(res.exception)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="QLoRA needs a CUDA GPU")
@pytest.mark.parametrize("kind", ["llama", "gpt_neox"])
def test_on_a_gpu_qlora_trains_the_adapter_on_a_4bit_base_and_saves_only_the_adapter(
    kind, tiny_models, tmp_path, monkeypatch
):
    """The 4-bit path end to end (bitsandbytes' NF4 layers, bf16 compute, the fused loss and compile
    where they apply): the loss falls, the base stays 4-bit and frozen, the adapter alone is saved
    and peft reads it back onto the bf16 base."""
    bnb = pytest.importorskip("bitsandbytes")
    from peft import AutoPeftModelForCausalLM

    from sanchaek import train as train_module
    from sanchaek.model.adapters import is_adapter_dir
    from sanchaek.model.data import load_blocks
    from sanchaek.model.lm_eval import evaluate_lm
    from sanchaek.model.loading import load_causal_lm, load_tokenizer

    base_dir = tiny_models[kind]
    seen: dict[str, object] = {}
    save_model = train_module.save_model

    def inspect_trained(accelerator, model, *args, **kwargs):
        lm = accelerator.unwrap_model(model).lm
        seen["4bit"] = sum(isinstance(m, bnb.nn.Linear4bit) for m in lm.modules())
        seen["trainable"] = [n for n, p in lm.named_parameters() if p.requires_grad]
        seen["adapters"] = {k: v.detach().float().cpu().clone() for k, v in lm.state_dict().items() if "lora_" in k}
        return save_model(accelerator, model, *args, **kwargs)

    monkeypatch.setattr(train_module, "save_model", inspect_trained)
    layout = make_project(tmp_path)
    result = train_module.train(lora_params(base_dir, method="qlora", mixed_precision="bf16"), layout, live_dir=None)

    blocks = load_blocks(layout.val_split, load_tokenizer(str(base_dir)), 32, tmp_path / "cache")
    untrained = evaluate_lm(load_causal_lm(str(base_dir))[0], blocks, batch_size=4, max_blocks=8)["loss"]
    assert result.final["val_loss"] < untrained - 0.25, (untrained, result.history)
    assert seen["4bit"] == 2 * len(BLOCK_LINEARS[kind])  # every block linear of both layers
    assert seen["trainable"] and all("lora_A" in n or "lora_B" in n for n in seen["trainable"])
    lora_b = [v for k, v in seen["adapters"].items() if "lora_B" in k]
    assert lora_b and all(v.abs().max() > 0 for v in lora_b)  # B starts at 0: every one moved

    out = layout.model_dir
    assert is_adapter_dir(out) and not (out / "model.safetensors").exists()
    loaded = AutoPeftModelForCausalLM.from_pretrained(out)
    state = {k.replace(".default", ""): v for k, v in loaded.state_dict().items() if "lora_" in k}
    for key, value in seen["adapters"].items():
        match = [v for k, v in state.items() if k.endswith(key.replace(".default", ""))]
        assert len(match) == 1 and torch.equal(match[0].float().cpu(), value), key


# ----------------------------------------------------------------------------- resume


def test_a_killed_lora_run_resumes_to_the_uninterrupted_loss_from_adapter_only_checkpoints(
    tiny_models, tmp_path
):
    from sanchaek.train import train

    params = lora_params(tiny_models["llama"], lora={"dropout": 0.1})  # dropout: the RNG state resumes too
    whole = train(params, make_project(tmp_path / "a"), live_dir=None)
    layout = make_project(tmp_path / "b")
    cut = train(params, layout, stop_after_steps=7, live_dir=None)
    assert cut.steps == 7
    saved = layout.checkpoints_dir / "step_6" / "model.safetensors"
    from safetensors.torch import load_file

    keys = load_file(saved).keys()
    assert keys and all("lora_" in k for k in keys)  # the frozen base is not in the checkpoint
    resumed = train(params, layout, live_dir=None)
    assert resumed.steps == 12
    assert resumed.final["val_loss"] == pytest.approx(whole.final["val_loss"], abs=1e-6)
    assert resumed.final["train_loss"] == pytest.approx(whole.final["train_loss"], abs=1e-6)


# ----------------------------------------------------------------------------- memory plan

LLAMA_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "max_position_embeddings": 131072, "rope_theta": 500000.0, "tie_word_embeddings": False,
}  # fmt: skip


def test_memory_plan_refuses_an_impossible_run_without_loading_weights(tmp_path, monkeypatch):
    """A folder with an 8B config and no weights at all: the plan must decide from the config."""
    from transformers import AutoModelForCausalLM

    from sanchaek.train import train

    model_dir = tmp_path / "llama-8b-config-only"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(LLAMA_8B))

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
    params = params_from_dict(
        {
            "model": {"name_or_path": str(model_dir)},
            "train": {
                "seq_len": 2048,
                "micro_batch_size": 8,
                "memory_gib": 80,
                "mixed_precision": "bf16-master",
            },
        }
    )
    with pytest.raises(SanchaekError) as err:
        train(params, make_project(tmp_path / "p"), live_dir=None)
    message = str(err.value)
    assert "\n" not in message and "memory plan" in message and "80.0 GiB" in message
    assert "train.method: lora" in message and "FSDP over" in message


def test_memory_plan_counts_lora_parameters_exactly_and_shrinks_with_each_knob():
    from transformers import LlamaConfig

    from sanchaek.model.memory_plan import RunShape, model_shape, plan

    shape = model_shape(LlamaConfig(**{k: v for k, v in LLAMA_8B.items() if k != "architectures"}))
    assert shape.params == 8_030_261_248  # Llama-3.1-8B's published count
    run = RunShape("lora", "bf16-master", 2048, 1, False, True, True, lora_rank=16)
    lora = plan(shape, run)
    assert lora.trainable_params == 41_943_040  # r=16 on q,k,v,o,gate,up,down of 32 layers (peft's count)
    full = plan(shape, RunShape("full", "bf16-master", 2048, 1, False, True, True))
    qlora = plan(shape, RunShape("qlora", "bf16-master", 2048, 1, False, True, True, lora_rank=16))
    checkpointed = plan(shape, RunShape("lora", "bf16-master", 2048, 1, True, True, True, lora_rank=16))
    assert full.total > lora.total > qlora.total and checkpointed.activations < lora.activations / 5
    assert 15 < lora.weights / 2**30 < 15.2  # the bf16 base: 16.06 GB
    assert 5 < qlora.weights / 2**30 < 7


def test_plan_flag_prints_the_estimate_without_loading(tmp_path):
    from click.testing import CliRunner

    from sanchaek.cli import cli

    model_dir = tmp_path / "m"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(LLAMA_8B))
    (tmp_path / "params.yaml").write_text(
        json.dumps({"model": {"name_or_path": str(model_dir)}, "train": {"method": "lora", "memory_gib": 40,
                                                                         "seq_len": 2048, "micro_batch_size": 1}})
    )  # fmt: skip
    res = CliRunner().invoke(cli, ["train", "--plan", "--params", str(tmp_path / "params.yaml")])
    assert res.exit_code == 0, res.output
    assert "memory plan (lora" in res.output and "fits in the 40.0 GiB" in res.output


@pytest.mark.parametrize("method", ["full", "lora"])
@pytest.mark.parametrize(
    "hidden,layers,ffn,kv_heads", [(256, 2, 768, 2), (384, 6, 1024, 2), (768, 3, 2048, 4)]
)
def test_memory_plan_activations_match_what_autograd_keeps(method, hidden, layers, ffn, kv_heads):
    """The plan's activation bytes for an eager bf16 run against the tensors autograd itself saves
    for the backward of the blocks (counted once per storage), on small Llamas of several shapes:
    within -5%/+20% (a plan may err high, never much low). The compiled loop keeps less; that
    estimate is for bench/lora_gpu.py to check on a GPU."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from sanchaek.model.memory_plan import RunShape, model_shape, plan
    from sanchaek.model.speed import fast_training

    config = LlamaConfig(vocab_size=1000, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                         num_attention_heads=hidden // 64, num_key_value_heads=kv_heads, max_position_embeddings=512)  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).to(torch.bfloat16)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model.requires_grad_(False)
        peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
        model = peft_model.get_base_model().to(torch.bfloat16)  # bf16 adapters: bf16-master's
    fast_training(model, 256)
    batch, seq = 2, 256
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in weights:
            kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.model(input_ids=torch.randint(0, 1000, (batch, seq)), use_cache=False).last_hidden_state.sum()
    measured = sum(kept.values())
    estimate = plan(
        model_shape(config), RunShape(method, "bf16-master", seq, batch, False, False, False)
    ).activations
    assert 0.95 < estimate / measured < 1.2, (estimate, measured)
