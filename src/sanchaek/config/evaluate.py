"""``evaluate`` params: LM metrics on the val split and the KLUE-RE fine-tune.

The ``re_*`` knobs are also read by ``train`` when ``train.re_weight > 0`` (``ReObjective.from_params``),
so one set of KLUE-RE settings serves both the joint objective and the evaluate stage.
Defaults fit the CPU run (tiny model, a hundred RE steps); on a GPU raise the caps (null = all).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Section


class EvaluateParams(Section):
    # What to evaluate: a save_pretrained folder (relative to the project root) or a hub id.
    model_path: str = "models/lm"
    # auto: cuda when available. precision auto: bf16 autocast on cuda, fp32 on cpu.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # RE head init, dropout and RE mini-batch order.
    seed: int = 1234

    # LM metrics on data/processed/val.jsonl, packed like train does (null lm_seq_len: train.seq_len).
    lm_seq_len: int | None = Field(None, ge=8, le=131072)
    lm_batch_size: int = Field(8, ge=1)
    lm_max_blocks: int | None = Field(None, ge=1)  # cap on val blocks (null: all)

    # KLUE-RE data. re_enabled false: LM metrics only (the re_* report keys are null).
    re_enabled: bool = True
    klue_re_dir: str = "data/external/klue-re"  # holds relation_list.json, partial/, official files
    # auto: the official klue-re-v1.1_{train,dev}.json when both are in klue_re_dir, else the labelled
    # partial subset split into RE-train / RE-dev; official / partial: force one; files: re_train_file
    # (+ re_dev_file); hf: datasets.load_dataset(re_hf_dataset, "re") (network + `datasets` package).
    re_source: Literal["auto", "official", "partial", "files", "hf"] = "auto"
    # Only with re_source: files; relative to klue_re_dir or absolute. No re_dev_file: split the train file.
    re_train_file: str | None = None
    re_dev_file: str | None = None
    re_hf_dataset: str = "klue"
    # Share of a labelled file held out as RE-dev (whole sentences, stratified by label; the official dev
    # is used instead whenever present), and the seed of that split and of the caps.
    re_dev_fraction: float = Field(0.2, gt=0, le=0.5)
    re_split_seed: int = 1234
    # Stratified caps that keep the CPU run short (null: all examples).
    re_max_train_examples: int | None = Field(512, ge=1)
    re_max_dev_examples: int | None = Field(400, ge=1)

    # KLUE-RE encoding and head. klue: "<subj>이름</subj>" / "<obj>회사</obj>" (untyped, as KLUE-baseline);
    # typed_punct: "@ * PER * 이름 @" / "# ^ ORG ^ 회사 #" (gives the model the entity types); punct: "@ 이름 @".
    re_marker_style: Literal["klue", "typed_punct", "punct"] = "klue"
    # Pooled hidden states: closing subject/object markers and/or the last token (EOS).
    re_pooling: Literal["entity_end_last", "entity_end", "last"] = "entity_end_last"
    # Tokens per input; a longer one keeps a window around both entities.
    re_max_length: int = Field(160, ge=16, le=8192)
    re_dropout: float = Field(0.1, ge=0, lt=1)

    # KLUE-RE fine-tune of an in-memory copy of the model (the model on disk never changes).
    # re_train_backbone false: train only the head (a linear probe of the backbone).
    re_train_backbone: bool = True
    # The tighter of re_epochs and re_max_steps wins (null re_max_steps: epochs only).
    re_epochs: float = Field(3.0, gt=0)
    re_max_steps: int | None = Field(100, ge=1)
    re_batch_size: int = Field(16, ge=1)
    re_eval_batch_size: int = Field(64, ge=1)
    # AdamW, linear warmup then linear decay; the fresh head learns faster than the backbone.
    re_lr: float = Field(5e-4, gt=0, le=1)
    re_head_lr: float = Field(2e-3, gt=0, le=1)
    re_weight_decay: float = Field(0.01, ge=0)
    re_warmup_ratio: float = Field(0.1, ge=0, lt=1)
    re_grad_clip: float = Field(1.0, gt=0)

    # What the model's RE score is set beside, on the same RE-dev and metric code: the entity-type prior,
    # a character n-gram logistic regression and (re_control) the model's architecture randomly
    # initialised and fine-tuned with the recipe above (about doubles the RE fine-tune time).
    re_baselines: bool = True
    re_control: bool = True
    re_ngram_max_n: int = Field(3, ge=1, le=6)  # character n-grams 1..n
    re_ngram_c: float = Field(4.0, gt=0)  # inverse L2 strength of the logistic regression
    re_type_prior_smoothing: float = Field(1.0, ge=0)  # virtual examples from the overall label shares
    # Bootstrap intervals (percentile, paired across systems) around every RE score and every gain.
    re_bootstrap: int = Field(1000, ge=100, le=100000)
    re_ci_level: float = Field(0.95, gt=0.5, lt=1)

    @model_validator(mode="after")
    def _files_only_with_files_source(self) -> EvaluateParams:
        if self.re_source == "files" and not self.re_train_file:
            raise ValueError("re_source: files needs evaluate.re_train_file (a labelled KLUE-RE JSON file)")
        if self.re_source != "files" and (self.re_train_file or self.re_dev_file):
            raise ValueError(
                "re_train_file / re_dev_file are read only with re_source: files; set it or clear them"
            )
        return self
