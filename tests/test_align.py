"""The align stage on a tiny model in a temp project: pass-through with too few pairs, bad input,
a LoRA and a full run, exact resume, and what generate and compose then load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import KOREAN_LINES
from test_train import make_project

from sanchaek.config import params_from_dict
from sanchaek.errors import SanchaekError


def write_pairs(layout, n: int) -> None:
    rows = []
    for i in range(n):
        words = KOREAN_LINES[i % 8].split()
        rows.append({"prompt": KOREAN_LINES[(i + 1) % 8], "chosen": " " + " ".join(words),
                     "rejected": " " + " ".join(reversed(words)), "theme": "t", "vote_id": i})  # fmt: skip
    layout.preferences.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


@pytest.fixture
def project(tmp_path, tiny_lm_dir):
    layout = make_project(tmp_path)
    shutil.copytree(tiny_lm_dir, layout.model_dir)
    return layout


def params(**align):
    base = {
        "max_steps": 4,
        "pairs_per_step": 4,
        "log_every": 2,
        "checkpoint_every": 0,
        "min_pairs": 8,
        "lr": 1e-2,
    }
    return params_from_dict({"align": {**base, **align}})


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_too_few_pairs_pass_the_trained_model_through_without_copying_it(project):
    from sanchaek.align import align
    from sanchaek.model.aligned import aligned_variant
    from sanchaek.model.loading import check_model_dir, load_causal_lm

    write_pairs(project, 3)
    report = align(params(), project, live_dir=False)
    assert report["status"] == "passthrough" and "fewer than align.min_pairs = 8" in report["reason"]
    assert report["pairs"]["usable"] == 3
    files = list(project.aligned_dir.iterdir())
    assert [f.name for f in files] == ["sanchaek_align.json"] and files[0].stat().st_size < 4096
    check_model_dir(str(project.aligned_dir))
    ours, _ = load_causal_lm(str(project.aligned_dir))
    trained, _ = load_causal_lm(str(project.model_dir))
    assert all(torch.equal(v, weights(trained)[k]) for k, v in weights(ours).items())
    assert aligned_variant(str(project.model_dir), project.aligned_dir, project.model_dir) is None


def test_an_empty_preference_file_passes_through(project):
    from sanchaek.align import align

    project.preferences.write_text("", "utf-8")
    assert align(params(), project, live_dir=False)["status"] == "passthrough"


def test_a_preference_file_that_is_not_jsonl_fails_naming_file_and_line(project):
    from sanchaek.align import align

    write_pairs(project, 10)
    with project.preferences.open("a", encoding="utf-8") as fh:
        fh.write("prompt,chosen,rejected\n")
    with pytest.raises(SanchaekError, match=r"preferences.jsonl:11: broken JSON"):
        align(params(), project, live_dir=False)
    report = align(params(on_bad_line="skip"), project, live_dir=False)
    assert report["pairs"]["bad_lines"] == 1 and report["status"] == "aligned"


def test_lora_run_writes_an_adapter_that_generate_and_compose_load(project, monkeypatch):
    from sanchaek.align import align
    from sanchaek.generate import contenders
    from sanchaek.model.aligned import aligned_variant
    from sanchaek.model.loading import load_causal_lm

    write_pairs(project, 12)
    report = align(params(eval_fraction=0.25), project, live_dir=project.root / "live")
    assert report["status"] == "aligned" and report["steps"] == 4
    assert report["pairs"]["train"] == 9 and report["pairs"]["heldout"] == 3
    assert {"reward_accuracy", "baseline_likelihood_accuracy"} <= set(report["heldout"])
    assert report["final"]["reward_margin"] > 0  # chosen pulled above rejected on the training pairs
    assert report["val_bits_per_char"]["before"] > 0
    names = {f.name for f in project.aligned_dir.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "sanchaek_align.json"} <= names
    assert not list(project.aligned_dir.glob("model*.safetensors"))  # the adapter only, no second model
    metrics = (project.root / "live" / "metrics.json").read_text("utf-8")
    assert "reward_accuracy" in metrics and "logps_chosen" in metrics

    aligned, _ = load_causal_lm(str(project.aligned_dir))
    trained, _ = load_causal_lm(str(project.model_dir))
    changed = [k for k, v in weights(aligned).items() if not torch.equal(v, weights(trained)[k])]
    assert changed and all("proj" in k for k in changed)

    # generate samples both, compose uses the aligned one (paths as the stages see them from the root)
    monkeypatch.chdir(project.root)
    layout = type(project)(Path("."))
    p = params_from_dict({"generate": {"model": "models/lm"}})
    assert contenders(p, layout) == [("models/lm", "workspace"), ("models/aligned", "workspace+aligned")]
    off = params_from_dict({"align": {"contender": False}})
    assert contenders(off, layout) == [("models/lm", "workspace")]
    assert aligned_variant("models/lm", layout.aligned_dir, layout.model_dir) == layout.aligned_dir
    assert aligned_variant(str(project.root / "elsewhere"), layout.aligned_dir, layout.model_dir) is None

    # a project moved elsewhere still loads its aligned model (the record names ../lm)
    moved = project.root.parent / "moved"
    shutil.copytree(project.root / "models", moved / "models")
    again, _ = load_causal_lm(str(moved / "models" / "aligned"))
    assert all(torch.equal(v, weights(aligned)[k]) for k, v in weights(again).items())


def test_a_killed_run_resumes_to_the_same_adapter(project):
    from sanchaek.align import align
    from sanchaek.model.loading import load_causal_lm

    write_pairs(project, 12)
    align(params(resume="never"), project, live_dir=False)
    straight = weights(load_causal_lm(str(project.aligned_dir))[0])
    shutil.rmtree(project.aligned_dir)

    stopped = align(params(checkpoint_every=2, resume="never"), project, live_dir=False, stop_after_steps=2)
    assert stopped["status"] == "stopped" and not project.aligned_dir.exists()
    assert (project.align_checkpoints_dir / "step_2").is_dir()
    report = align(params(checkpoint_every=2), project, live_dir=False)
    assert report["steps"] == 4
    resumed = weights(load_causal_lm(str(project.aligned_dir))[0])
    assert all(torch.allclose(v, straight[k], atol=1e-6) for k, v in resumed.items())


def test_a_corrupt_checkpoint_names_the_align_resume_setting(project):
    """align shares train's checkpoint code; its errors must name align's knob, not train's."""
    from sanchaek.align import align

    write_pairs(project, 12)
    align(params(checkpoint_every=2, resume="never"), project, live_dir=False, stop_after_steps=2)
    broken = project.align_checkpoints_dir / "step_2"
    weight_files = list(broken.glob("*.safetensors"))
    assert weight_files
    for weights_file in weight_files:
        weights_file.write_bytes(b"not a tensor file")
    with pytest.raises(SanchaekError, match=r"step_2 is corrupt.*set align.resume: never"):
        align(params(checkpoint_every=2), project, live_dir=False)
    with pytest.raises(SanchaekError, match=r"step_9 not found: set align.resume"):
        align(params(resume=str(project.align_checkpoints_dir / "step_9")), project, live_dir=False)


def test_full_fine_tuning_writes_a_whole_model(project):
    from sanchaek.align import align
    from sanchaek.model.loading import load_causal_lm

    write_pairs(project, 10)
    report = align(params(method="full", lr=1e-4), project, live_dir=False)
    assert report["status"] == "aligned" and report["method"] == "full"
    assert (project.aligned_dir / "config.json").exists()
    aligned, _ = load_causal_lm(str(project.aligned_dir))
    trained, _ = load_causal_lm(str(project.model_dir))
    assert any(not torch.equal(v, weights(trained)[k]) for k, v in weights(aligned).items())


def test_unknown_align_params_fail_naming_the_key():
    with pytest.raises(SanchaekError, match="align.loss"):
        params_from_dict({"align": {"loss": "hinge"}})
    with pytest.raises(SanchaekError, match="unknown key 'align.betta'"):
        params_from_dict({"align": {"betta": 0.1}})


def test_generate_samples_both_contenders_and_compose_writes_with_the_aligned_model(project, monkeypatch):
    from click.testing import CliRunner
    from test_generate_support import make_project as make_generate_project

    from sanchaek.align import align
    from sanchaek.cli import cli
    from sanchaek.io import read_jsonl

    write_pairs(project, 10)
    align(params(), project, live_dir=False)
    monkeypatch.chdir(project.root)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    plan = [{"type": "event", "theme": "죽음", "length": 6, "prompt": "아침에 전화가 왔다."}]
    make_generate_project(
        project.root, Path("models/lm"),
        generate={"samples_per_prompt": 1, "prompts": [{"theme": "죽음", "opening": "오늘 엄마가"}],
                  "sampling": {"max_new_tokens": 8}},
        compose={"candidates": 1, "plan": plan},
    )  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(cli, ["generate"])
    assert result.exit_code == 0, result.output
    samples = list(read_jsonl(project.root / "reports/samples.jsonl"))
    assert [(s["experiment"], s["model"], s["prompt"]) for s in samples] == [
        ("workspace", "models/lm", "오늘 엄마가"),
        ("workspace+aligned", "models/aligned", "오늘 엄마가"),
    ]
    summary = json.loads((project.root / "reports/generate.json").read_text("utf-8"))
    assert set(summary["contenders"]) == {"workspace", "workspace+aligned"}
    result = runner.invoke(cli, ["compose"])
    assert result.exit_code == 0, result.output
    assert json.loads((project.root / "reports/work.json").read_text("utf-8"))["model"] == "models/aligned"


def test_align_on_a_trained_lora_adapter_stacks_a_second_adapter(tmp_path, tiny_lm_dir):
    """models/lm written by train.method: lora (an adapter folder naming its base): align tunes the
    merged model and the aligned folder loads as base + train adapter + DPO adapter."""
    from peft import LoraConfig, get_peft_model

    from sanchaek.align import align
    from sanchaek.model.adapters import save_adapter
    from sanchaek.model.loading import load_causal_lm

    layout = make_project(tmp_path)
    base, tok = load_causal_lm(str(tiny_lm_dir))
    adapted = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in adapted.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)
    save_adapter(adapted, layout.model_dir, None, str(tiny_lm_dir))
    tok.save_pretrained(layout.model_dir)
    write_pairs(layout, 10)
    assert align(params(), layout, live_dir=False)["status"] == "aligned"
    trained = weights(load_causal_lm(str(layout.model_dir))[0])
    aligned = weights(load_causal_lm(str(layout.aligned_dir))[0])
    assert set(aligned) == set(trained)
    assert any(not torch.equal(v, trained[k]) for k, v in aligned.items())
