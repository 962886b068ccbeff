"""The KLUE-RE head and the objective that trains it on a shared causal-LM backbone.

Why our own head and not ``AutoModelForSequenceClassification``: the same head must sit on the
backbone while the LM trains (``train.re_weight > 0``, a joint objective) and on a copy of it in the
evaluate stage; a ``*ForSequenceClassification`` model would be a second copy of the backbone. The
head reads ``hidden_states[-1]`` of the causal LM's own forward, which works for every HF causal LM
(Llama, GPT-2, ...), and pools at the *closing* entity markers plus the last token: in a causal LM the
opening marker has not yet seen the entity it opens, the closing one has seen the entity, and the last
token has seen the whole sentence.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import SanchaekError
from .data import ReExample
from .markers import EncodedRe, encode_examples
from .split import ReSplit, load_re_split

if TYPE_CHECKING:
    from ..config import EvaluateParams

POOLING_WIDTH = {"last": 1, "entity_end": 2, "entity_end_last": 3}


def unwrap_lm(model: Any) -> Any:
    """The plain HF model under DDP (``.module``) or ``torch.compile`` (``._orig_mod``) wrappers.

    The RE forward goes to the plain model so that a DDP-wrapped LM is not run twice per step
    through DDP (its gradient hooks still fire once: LM and RE losses share one backward).
    """
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None or inner is model:
            return model
        model = inner


def last_hidden_states(lm_model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``hidden_states[-1]`` (after the final norm) of any HF causal LM; vocab logits only for one position."""
    model = unwrap_lm(lm_model)
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        output_hidden_states=True,
        use_cache=False,
        **extra,
    )
    return out.hidden_states[-1]


class ReHead(nn.Module):
    """Dropout + one linear layer over the pooled hidden states."""

    def __init__(self, hidden_size: int, num_labels: int, pooling: str, dropout: float):
        super().__init__()
        if pooling not in POOLING_WIDTH:
            raise SanchaekError(
                f"evaluate.re_pooling = {pooling!r} is unknown: use one of {', '.join(POOLING_WIDTH)}"
            )
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(POOLING_WIDTH[pooling] * hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        last = hidden[rows, batch["attention_mask"].sum(dim=1) - 1]  # right padding: last real token
        subj, obj = hidden[rows, batch["subject_pos"]], hidden[rows, batch["object_pos"]]
        pooled = {"last": [last], "entity_end": [subj, obj], "entity_end_last": [subj, obj, last]}
        return self.classifier(self.dropout(torch.cat(pooled[self.pooling], dim=-1).float()))


class ReObjective(nn.Module):
    """KLUE-RE cross-entropy on a shared causal-LM backbone; holds RE-train (and RE-dev) itself.

    ``loss(lm_model)`` draws the next RE-train mini-batch (a fresh seeded permutation per epoch),
    puts it on the LM's device, runs the LM, applies the head and returns the mean cross-entropy.
    The head weights and the batch cursor are in ``state_dict``, so a resumed run continues the
    same batch sequence.
    """

    def __init__(
        self,
        train: EncodedRe,
        *,
        hidden_size: int,
        relations: Sequence[str],
        pad_token_id: int,
        batch_size: int,
        seed: int,
        pooling: str,
        dropout: float,
        dev: EncodedRe | None = None,
        eval_batch_size: int = 64,
        info: dict[str, Any] | None = None,
    ):
        super().__init__()
        if len(train) == 0:
            raise SanchaekError(
                "KLUE-RE training set is empty: check evaluate.re_max_train_examples and the data folder"
            )
        self.relations = list(relations)
        # The head init depends only on the seed, not on what ran before in this process.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = ReHead(hidden_size, len(self.relations), pooling, dropout)
        self.train_data, self.dev_data = train, dev
        self.pad_token_id = pad_token_id
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.seed = seed
        self.info = info or {}
        self.tokenizer: Any = None  # set by from_params; evaluate_re needs it only for raw examples
        self.encode_settings: dict[str, Any] = {}
        self._epoch, self._cursor = 0, 0
        self._perm: list[int] = []
        self._perm_epoch = -1

    @classmethod
    def from_params(
        cls, evaluate_params: EvaluateParams, tokenizer: Any, hidden_size: int, seed: int
    ) -> ReObjective:
        """RE-train and RE-dev from ``evaluate.*`` params, marked and tokenized for ``tokenizer``."""
        return cls.from_split(load_re_split(evaluate_params), evaluate_params, tokenizer, hidden_size, seed)

    @classmethod
    def from_split(
        cls, split: ReSplit, evaluate_params: EvaluateParams, tokenizer: Any, hidden_size: int, seed: int
    ) -> ReObjective:
        """An objective over an already loaded split (the evaluate stage loads it once for every system)."""
        p = evaluate_params
        settings = {
            "relations": split.relations,
            "marker_style": p.re_marker_style,
            "max_length": p.re_max_length,
        }
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        objective = cls(
            encode_examples(split.train, tokenizer, **settings),
            hidden_size=hidden_size,
            relations=split.relations,
            pad_token_id=pad,
            batch_size=p.re_batch_size,
            seed=seed,
            pooling=p.re_pooling,
            dropout=p.re_dropout,
            dev=encode_examples(split.dev, tokenizer, **settings),
            eval_batch_size=p.re_eval_batch_size,
            info=split.describe(),
        )
        objective.tokenizer, objective.encode_settings = tokenizer, settings
        return objective

    def fresh(self) -> ReObjective:
        """The same encoded data, seed and settings with a newly initialised head and batch order."""
        head = self.head
        objective = type(self)(
            self.train_data,
            hidden_size=head.classifier.in_features // POOLING_WIDTH[head.pooling],
            relations=self.relations,
            pad_token_id=self.pad_token_id,
            batch_size=self.batch_size,
            seed=self.seed,
            pooling=head.pooling,
            dropout=head.dropout.p,
            dev=self.dev_data,
            eval_batch_size=self.eval_batch_size,
            info=self.info,
        )
        objective.tokenizer, objective.encode_settings = self.tokenizer, self.encode_settings
        return objective

    # batches ---------------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_data) / self.batch_size)

    def _next_indices(self) -> list[int]:
        if self._cursor >= len(self.train_data):
            self._epoch, self._cursor = self._epoch + 1, 0
        if self._perm_epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self._epoch)
            self._perm = torch.randperm(len(self.train_data), generator=generator).tolist()
            self._perm_epoch = self._epoch
        ids = self._perm[self._cursor : self._cursor + self.batch_size]
        self._cursor += len(ids)
        return ids

    def collate(self, data: EncodedRe, ids: Sequence[int], device: Any) -> dict[str, torch.Tensor]:
        """Right-padded batch of ``data[ids]`` on ``device``."""
        width = max(len(data.input_ids[i]) for i in ids)
        input_ids = torch.full((len(ids), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, i in enumerate(ids):
            seq = data.input_ids[i]
            input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        batch = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "subject_pos": torch.tensor([data.subject_pos[i] for i in ids], dtype=torch.long),
            "object_pos": torch.tensor([data.object_pos[i] for i in ids], dtype=torch.long),
            "labels": torch.tensor([data.labels[i] for i in ids], dtype=torch.long),
        }
        return {k: v.to(device) for k, v in batch.items()}

    # forward --------------------------------------------------------------------------------
    def logits(self, lm_model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = last_hidden_states(lm_model, batch["input_ids"], batch["attention_mask"])
        return self.head(hidden, batch)

    def loss(self, lm_model: Any) -> torch.Tensor:
        device = next(unwrap_lm(lm_model).parameters()).device
        if self.head.classifier.weight.device != device:
            self.to(device)  # in place: optimizer references to the head stay valid
        batch = self.collate(self.train_data, self._next_indices(), device)
        return nn.functional.cross_entropy(self.logits(lm_model, batch), batch["labels"])

    def forward(self, lm_model: Any) -> torch.Tensor:
        """Same as ``loss``: lets ``accelerator.prepare(objective)`` (DDP) all-reduce the head's gradients."""
        return self.loss(lm_model)

    def evaluate(
        self, lm_model: Any, examples: Sequence[ReExample] | EncodedRe | None = None
    ) -> dict[str, Any]:
        from .finetune import evaluate_re

        return evaluate_re(lm_model, self, examples)

    # resumable batch order ------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, int]:
        return {"epoch": self._epoch, "cursor": self._cursor, "seed": self.seed}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self._epoch, self._cursor, self.seed = int(state["epoch"]), int(state["cursor"]), int(state["seed"])
        self._perm_epoch = -1
