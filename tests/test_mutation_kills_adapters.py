"""Tests that pin src/sanchaek/model/adapters.py beyond tests/test_lora.py's training runs (`make
mutation`, reports/quality/mutation.json): target names per layout, grown vocabularies, the LoRA config
handed to peft, the one-line refusals, adapter folders and the base they name. Tiny random models built
in memory; nothing is trained."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from conftest import KOREAN_LINES

from sanchaek.config.model import LoraParams
from sanchaek.errors import SanchaekError
from sanchaek.model.adapters import (
    AdapterRun,
    adapter_base,
    add_lora,
    base_for_adapter_config,
    block_linear_names,
    grown_vocabulary_modules,
    is_adapter_dir,
    require_qlora_support,
    resolve_target_modules,
    save_adapter,
)

LLAMA_LINEARS = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


@pytest.fixture(scope="module")
def tokenizer():
    from sanchaek.model.scratch import train_bpe_tokenizer

    return train_bpe_tokenizer(KOREAN_LINES * 4, 300)


def llama(vocab: int, tied: bool = False):
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=tied)  # fmt: skip
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config)


def test_targets_are_the_block_linears_and_a_list_is_checked():
    model = llama(50)
    assert block_linear_names(model) == LLAMA_LINEARS  # lm_head and the embeddings are not among them
    assert resolve_target_modules(model, "all") == LLAMA_LINEARS
    asked = ["v_proj", "q_proj"]
    got = resolve_target_modules(model, asked)
    assert got == ["v_proj", "q_proj"] and got is not asked
    with pytest.raises(SanchaekError) as err:
        resolve_target_modules(model, ["q_proj", "qkv", "lm_head"])
    assert str(err.value) == (
        "train.lora.target_modules: qkv, lm_head not in this llama model; its linear layers are "
        + ", ".join(LLAMA_LINEARS)
        + " (or use all)"
    )


def test_a_model_without_linear_blocks_names_full_training():
    from transformers import AutoModelForCausalLM, GPT2Config

    gpt2 = AutoModelForCausalLM.from_config(GPT2Config(n_embd=16, n_head=2, n_layer=1, vocab_size=20))
    assert block_linear_names(gpt2) == []  # its blocks use Conv1D
    with pytest.raises(SanchaekError) as err:
        resolve_target_modules(gpt2, "all")
    assert str(err.value) == (
        "model type 'gpt2' has no linear layers in its blocks: LoRA needs them; use train.method: full"
    )


def test_a_head_inside_a_block_list_is_still_not_a_target():
    class Blocks(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4), torch.nn.Linear(4, 3)])

        def get_output_embeddings(self):
            return self.layers[1]

    assert block_linear_names(Blocks()) == ["0"]


def test_a_grown_vocabulary_resizes_and_trains_the_embeddings_and_head(tokenizer):
    n = len(tokenizer)
    model = llama(n - 5)
    assert grown_vocabulary_modules(model, tokenizer) == ["embed_tokens", "lm_head"]
    assert model.get_input_embeddings().num_embeddings == n
    assert model.get_output_embeddings().out_features == n
    tied = llama(n - 5, tied=True)
    assert grown_vocabulary_modules(tied, tokenizer) == ["embed_tokens"]  # the head is the same weight
    same = llama(n)
    assert grown_vocabulary_modules(same, tokenizer) == []
    larger = llama(n + 3)
    assert grown_vocabulary_modules(larger, tokenizer) == [] and larger.get_input_embeddings().num_embeddings == n + 3


def test_add_lora_hands_peft_the_params(tokenizer):
    model = llama(len(tokenizer) - 2)
    params = LoraParams(rank=4, alpha=12.0, dropout=0.1, target_modules=["q_proj", "v_proj"])
    peft_model = add_lora(model, params, tokenizer, gradient_checkpointing=False)
    config = peft_model.peft_config["default"]
    assert (config.r, config.lora_alpha, config.lora_dropout) == (4, 12.0, 0.1)
    assert set(config.target_modules) == {"q_proj", "v_proj"} and config.task_type == "CAUSAL_LM"
    assert set(config.modules_to_save) == {"embed_tokens", "lm_head"}  # auto: the vocabulary grew
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and not any("k_proj" in n for n in trainable)
    plain = add_lora(llama(len(tokenizer)), LoraParams(), tokenizer, gradient_checkpointing=False)
    config = plain.peft_config["default"]
    assert config.modules_to_save is None and set(config.target_modules) == set(LLAMA_LINEARS)
    assert (config.r, config.lora_alpha, config.lora_dropout) == (16, 32.0, 0.0)


def test_named_modules_to_save_are_checked_and_kept(tokenizer):
    params = LoraParams(modules_to_save=["lm_head"])
    peft_model = add_lora(llama(len(tokenizer)), params, tokenizer, gradient_checkpointing=False)
    assert set(peft_model.peft_config["default"].modules_to_save) == {"lm_head"}
    with pytest.raises(SanchaekError) as err:
        add_lora(llama(len(tokenizer)), LoraParams(modules_to_save=["wte", "lm_head", "head"]), tokenizer,
                 gradient_checkpointing=False)  # fmt: skip
    assert str(err.value) == (
        "train.lora.modules_to_save: wte, head not in this model: name modules such as embed_tokens (or use auto)"
    )


@pytest.mark.parametrize("checkpointing", [True, False])
def test_checkpointed_blocks_get_a_gradient_from_the_frozen_embeddings(tokenizer, checkpointing):
    model = llama(len(tokenizer))
    peft_model = add_lora(model, LoraParams(), tokenizer, gradient_checkpointing=checkpointing)
    out = peft_model.get_input_embeddings()(torch.tensor([[1, 2]]))
    assert out.requires_grad is checkpointing


def test_qlora_needs_cuda_and_bitsandbytes(monkeypatch):
    with pytest.raises(SanchaekError) as err:
        require_qlora_support("cpu")
    assert str(err.value) == (
        "train.method: qlora needs a CUDA GPU (bitsandbytes' 4-bit kernels): use train.method: lora here"
    )
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # an import that cannot succeed here
    with pytest.raises(SanchaekError) as err:
        require_qlora_support("cuda")
    assert str(err.value) == "train.method: qlora needs bitsandbytes: pip install bitsandbytes==0.50.2"


def test_adapter_folders_and_the_base_they_name(tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    assert not is_adapter_dir(folder)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "org/base"}))
    assert is_adapter_dir(folder) and is_adapter_dir(str(folder))
    assert adapter_base(folder) == "org/base"
    (folder / "config.json").write_text("{}")
    assert not is_adapter_dir(folder)  # a merged or plain model folder
    config = folder / "adapter_config.json"
    for text, why in (("{", "Expecting"), ("{}", "base_model_name_or_path")):
        config.write_text(text)
        with pytest.raises(SanchaekError) as err:
            adapter_base(folder)
        assert str(err.value).startswith(f"{config} is unreadable or names no base model (")
        assert why in str(err.value) and str(err.value).endswith("): retrain the adapter")
    config.write_text(json.dumps({"base_model_name_or_path": ""}))
    with pytest.raises(SanchaekError) as err:
        adapter_base(folder)
    assert str(err.value) == f"{config} names no base model: retrain the adapter"
    with pytest.raises(SanchaekError, match="is unreadable"):
        adapter_base(tmp_path / "none")


def test_a_local_base_is_recorded_as_an_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "models" / "base").mkdir(parents=True)
    assert base_for_adapter_config("models/base", root=tmp_path) == str((tmp_path / "models" / "base").resolve())
    assert base_for_adapter_config(str(tmp_path / "models" / "base")) == str(tmp_path / "models" / "base")
    assert base_for_adapter_config("org/not-here", root=tmp_path) == "org/not-here"  # a hub id, as given
    monkeypatch.setenv("HOME", str(tmp_path))
    assert base_for_adapter_config("~/models/base", root=tmp_path / "elsewhere") == str(tmp_path / "models" / "base")
    monkeypatch.chdir(tmp_path)
    assert base_for_adapter_config("models/base") == str(tmp_path / "models" / "base")


def test_an_adapter_run_saves_the_adapter_alone_naming_its_base(tokenizer, tmp_path):
    from safetensors.torch import load_file

    peft_model = add_lora(llama(len(tokenizer)), LoraParams(rank=2, target_modules=["q_proj"]), tokenizer,
                          gradient_checkpointing=False)  # fmt: skip
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.5)
    run = AdapterRun(peft_model, "/models/base", merge=True)
    assert run.lm is peft_model.get_base_model() and run.merge is True and run.base == "/models/base"
    run.save(tmp_path / "a", None)
    run.save(tmp_path / "b", run.lm.state_dict())  # the gathered state dict of an FSDP run
    for out in (tmp_path / "a", tmp_path / "b"):
        assert sorted(p.name for p in out.iterdir()) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
        assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "/models/base"
        saved = load_file(out / "adapter_model.safetensors")
        assert len(saved) == 4 and all("lora_" in k and "q_proj" in k for k in saved)
        assert all(torch.all(v == 0.5) for k, v in saved.items() if "lora_B" in k)
    save_adapter(peft_model, tmp_path / "c", None, "org/other")
    assert json.loads((tmp_path / "c" / "adapter_config.json").read_text())["base_model_name_or_path"] == "org/other"


class _Bare(torch.nn.Module):
    """A module that is no transformers model: no config, no output embeddings."""

    def __init__(self, linear_blocks: bool):
        super().__init__()
        inner = [torch.nn.Linear(2, 2)] if linear_blocks else [torch.nn.Conv1d(2, 2, 1)]
        self.layers = torch.nn.ModuleList(inner)


def test_models_without_a_config_or_a_head_are_named_as_unknown():
    assert block_linear_names(_Bare(linear_blocks=True)) == ["0"]
    with pytest.raises(SanchaekError, match=r"^model type '\?' has no linear layers in its blocks"):
        resolve_target_modules(_Bare(linear_blocks=False), "all")
    typeless = _Bare(linear_blocks=True)
    typeless.config = object()  # a config without a model_type
    with pytest.raises(SanchaekError, match=r"^train.lora.target_modules: q_proj not in this \? model; its linear"):
        resolve_target_modules(typeless, ["q_proj"])


def test_leaf_names_are_the_last_part_of_a_deep_path():
    from sanchaek.model.adapters import _leaf_name

    outer = torch.nn.Module()
    outer.a = torch.nn.Module()
    outer.a.b = torch.nn.Module()
    outer.a.b.c = torch.nn.Linear(1, 1)
    assert _leaf_name(outer, outer.a.b.c) == "c" and _leaf_name(outer, outer.a) == "a"


def test_modules_to_save_are_matched_by_leaf_name_at_any_depth(tokenizer):
    # model.layers.0.input_layernorm and model.embed_tokens: checked by their last name only
    params = LoraParams(target_modules=["q_proj"], modules_to_save=["input_layernorm", "embed_tokens"])
    peft_model = add_lora(llama(len(tokenizer)), params, tokenizer, gradient_checkpointing=False)
    assert set(peft_model.peft_config["default"].modules_to_save) == {"input_layernorm", "embed_tokens"}


def test_qlora_passes_where_cuda_and_bitsandbytes_are_there(monkeypatch):
    import importlib.machinery
    import types

    # bitsandbytes is not installed here: a module that imports stands in for it
    stand_in = types.ModuleType("bitsandbytes")
    stand_in.__spec__ = importlib.machinery.ModuleSpec("bitsandbytes", None)
    monkeypatch.setitem(sys.modules, "bitsandbytes", stand_in)
    require_qlora_support("cuda")


def test_the_adapter_config_is_read_as_utf8_whatever_the_locale(tmp_path):
    import locale

    folder = tmp_path / "어댑터"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/모델/기반"}, ensure_ascii=False), encoding="utf-8"
    )
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale: its default encoding cannot read the file
    try:
        assert adapter_base(folder) == "/모델/기반"
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)


def test_the_gathered_state_dict_is_what_is_saved(tokenizer, tmp_path):
    from safetensors.torch import load_file

    peft_model = add_lora(llama(len(tokenizer)), LoraParams(rank=2, target_modules=["q_proj"]), tokenizer,
                          gradient_checkpointing=False)  # fmt: skip
    run = AdapterRun(peft_model, "org/base", merge=False)
    # an FSDP run's local parameters are shards: the gathered full values are what must be written
    gathered = {k: torch.full_like(v, 0.25) if "lora_" in k else v for k, v in run.lm.state_dict().items()}
    run.save(tmp_path / "a", gathered)
    saved = load_file(tmp_path / "a" / "adapter_model.safetensors")
    assert len(saved) == 4 and all(torch.all(v == 0.25) for v in saved.values())
    state = {f"base_model.model.{k}": v for k, v in gathered.items()}
    save_adapter(peft_model, tmp_path / "b", state, "org/base")
    assert all(torch.all(v == 0.25) for v in load_file(tmp_path / "b" / "adapter_model.safetensors").values())
