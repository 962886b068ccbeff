"""KLUE Relation Extraction (KLUE-RE) on top of any causal LM, one module per concern:

- ``data``: the official KLUE-RE JSON schema, validated (also ``datasets``' copy), file provenance;
- ``split``: RE-train / RE-dev: the official dev, or a sentence-grouped stratified split; caps;
- ``markers``: entity markers (``klue`` ``<subj>…</subj>`` by default) and tokenization;
- ``objective``: the RE head and ``ReObjective``, which ``train`` adds to the LM loss (``re_weight``);
- ``finetune``: fine-tuning, predictions and scores on RE-dev (the evaluate stage);
- ``metrics``: micro-F1 and AUPRC exactly as KLUE-baseline computes them, bootstrap intervals;
- ``baselines``: the entity-type prior, a character n-gram logistic regression, the random-init control.
"""

from .baselines import CharNgramModel, TypePrior, random_init_like
from .data import NO_RELATION, Entity, ReExample, load_re_file, load_relations, parse_examples
from .finetune import (
    evaluate_re,
    finetune_re,
    finetune_with_params,
    planned_steps,
    predict_re,
    score_probs,
)
from .markers import MARKER_STYLES, EncodedRe, encode_examples, mark_entities, marker_label
from .metrics import klue_re_auprc, klue_re_micro_f1
from .objective import ReHead, ReObjective, last_hidden_states, unwrap_lm
from .split import ReSplit, grouped_split, load_re_split, sentence_key, stratified_sample

__all__ = [
    "MARKER_STYLES",
    "NO_RELATION",
    "CharNgramModel",
    "EncodedRe",
    "Entity",
    "ReExample",
    "ReHead",
    "ReObjective",
    "ReSplit",
    "TypePrior",
    "encode_examples",
    "evaluate_re",
    "finetune_re",
    "finetune_with_params",
    "grouped_split",
    "klue_re_auprc",
    "klue_re_micro_f1",
    "last_hidden_states",
    "load_re_file",
    "load_re_split",
    "load_relations",
    "mark_entities",
    "marker_label",
    "parse_examples",
    "planned_steps",
    "predict_re",
    "random_init_like",
    "score_probs",
    "sentence_key",
    "stratified_sample",
    "unwrap_lm",
]
