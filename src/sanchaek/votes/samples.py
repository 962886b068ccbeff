"""What raters compare: samples pooled from every experiment's ``samples.jsonl``, and their pairs.

A sample is labelled with the run that made it: a DVC experiment's name, ``<branch>@<short sha>``
for HEAD's baseline (the generate stage records 'workspace' outside ``dvc exp run``, which would
name the committed baseline after whatever the workspace holds now), or the workspace label for
uncommitted output. Its ``sample_id`` is computed from the record alone, so other stages (compose)
join ``reports/ratings.json`` back to ``reports/samples.jsonl`` without knowing where it was found.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .. import repo
from ..config import RatingsParams

# The name the generate stage records when it runs outside `dvc exp run` (DVC_EXP_NAME unset).
RECORDED_WORKSPACE = "workspace"


def sample_id(experiment: str, prompt: str, text: str) -> str:
    """Stable id of one generated text (the same text under another experiment is another sample)."""
    digest = hashlib.sha1(f"{experiment}\0{prompt}\0{text}".encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class Sample:
    sample_id: str
    experiment: str  # the run's label (experiment name, main@sha, workspace)
    prompt: str
    theme: str
    text: str
    record: dict = field(default_factory=dict, compare=False, hash=False)


def sample_from_record(record: dict, label: str) -> Sample | None:
    prompt, text = record.get("prompt"), record.get("text")
    if not isinstance(prompt, str) or not isinstance(text, str) or not text.strip():
        return None
    theme = record.get("theme")
    recorded = record.get("experiment")
    recorded = recorded if isinstance(recorded, str) and recorded else RECORDED_WORKSPACE
    return Sample(
        sample_id=sample_id(recorded, prompt, text),
        experiment=label,
        prompt=prompt,
        theme=theme if isinstance(theme, str) else "",
        text=text,
        record=record,
    )


def run_label(record: dict, where: str, workspace_label: str) -> str:
    """The run a sample belongs to: the experiment the generate stage recorded, else where it was found.

    ``where`` is the experiment name or ``main@<sha>`` of the commit the file was read from, or
    ``workspace_label`` for the working tree.
    """
    recorded = record.get("experiment")
    if isinstance(recorded, str) and recorded and recorded != RECORDED_WORKSPACE:
        return recorded
    return where or workspace_label


def parse_samples_jsonl(content: str, where: str, workspace_label: str = RECORDED_WORKSPACE) -> list[Sample]:
    """Samples in one samples.jsonl text; broken lines are skipped (the app must not fail on them)."""
    out = []
    for line in content.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            sample = sample_from_record(record, run_label(record, where, workspace_label))
            if sample is not None:
                out.append(sample)
    return out


def collect_samples(root: Path, params: RatingsParams) -> list[Sample]:
    """Every sample the raters may see: DVC experiments' committed samples, HEAD's, then the workspace's.

    A text found in several places (the workspace usually equals HEAD or an applied experiment) is
    listed once, under the first: the experiment or commit that made it.
    """
    found: list[Sample] = []
    timeout = params.dvc_timeout_s
    if params.include_experiment_samples:
        sources = list(repo.exp_refs(root, timeout))
        head = repo.head(root, timeout)
        if head is not None:
            sources.append((repo.baseline_label(*head), head[1]))
        for label, rev in sources:
            for rel in params.sample_files:
                content = repo.git_show(root, rev, rel, timeout)
                if content:
                    found.extend(parse_samples_jsonl(content, label, params.workspace_label))
    for rel in params.sample_files:
        path = root / rel
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            found.extend(parse_samples_jsonl(text, params.workspace_label, params.workspace_label))
    seen: set[tuple[str, str]] = set()
    unique = []
    for sample in found:
        key = (sample.prompt, sample.text)
        if key not in seen:
            seen.add(key)
            unique.append(sample)
    return unique


def why_not_offered(sample: Sample, params: RatingsParams) -> str:
    """'' when raters may see the sample, else why not (too short, or too few distinct characters)."""
    body = "".join(sample.text.split())
    if len(body) < params.min_sample_chars:
        return f"too short ({len(body)} < {params.min_sample_chars} characters)"
    if len(set(body)) < params.min_distinct_chars:
        return f"degenerate ({len(set(body))} distinct characters < {params.min_distinct_chars})"
    return ""


def candidate_pairs(samples: list[Sample], within_experiment: bool) -> list[tuple[Sample, Sample]]:
    """Pairs a rater may compare: same prompt, different runs; or, for a prompt that only one run
    answered and ``within_experiment``, two different samples of it."""
    by_prompt: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_prompt[sample.prompt].append(sample)
    pairs = []
    for group_ in by_prompt.values():
        across = [
            (x, y) for i, x in enumerate(group_) for y in group_[i + 1 :] if x.experiment != y.experiment
        ]
        if across:
            pairs.extend(across)
        elif within_experiment:
            pairs.extend(
                (x, y) for i, x in enumerate(group_) for y in group_[i + 1 :] if x.sample_id != y.sample_id
            )
    return pairs
