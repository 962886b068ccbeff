"""preprocess on several processes (and a Dask cluster) writes the same bytes as one process."""

from __future__ import annotations

import json
import os
import random
import statistics
from collections import Counter
from pathlib import Path

import pytest
from test_preprocess import fixture_records, record, write_raw

from sanchaek.config import PreprocessParams, params_from_dict
from sanchaek.errors import SanchaekError
from sanchaek.executors import ExecutionPlan, ordered_map
from sanchaek.preprocess import _hist_mean, _hist_median, run_stage
from sanchaek.text.ledger import GroupStats

OUTPUTS = (
    "data/interim/documents.jsonl",
    "data/interim/passages.jsonl",
    "reports/preprocess.json",
    "reports/sources.json",
)


def params(**overrides) -> PreprocessParams:
    return params_from_dict({"preprocess": {"split": {"workers": 1}, **overrides}}).preprocess


def corpus_records(shared_dir: Path) -> list[dict]:
    """Real works of both layouts, with copies that are duplicates only across batches."""
    lines = (shared_dir / "data" / "corpus" / "works.jsonl").read_text(encoding="utf-8").splitlines()
    works = [json.loads(x) for x in lines[:4] + lines[60:72]]
    records = [
        record(
            w["id"],
            w["text"],
            title=w["title"],
            author=w["author"],
            genre=w["genre"],
            layout=w["layout"],
            source="corpus",
            origin=w["source"],
        )
        for w in works
    ]
    first, para = works[0], next(w for w in works if w["layout"] == "paragraphs")
    # an exact copy (spacing only) and a near copy (one word changed), far from their originals
    records.append(record("copy-exact", first["text"].replace(" ", "  "), layout=first["layout"]))
    records.append(record("copy-near", para["text"].replace("그", "저", 1) + " 끝.", layout="paragraphs"))
    return records + fixture_records()


def run_outputs(root: Path, p: PreprocessParams) -> dict[str, bytes]:
    run_stage(root, p)
    # the report names its input files: the same bytes once each run's own folder is masked
    return {name: (root / name).read_bytes().replace(str(root).encode(), b"<root>") for name in OUTPUTS}


def stage_root(tmp_path: Path, name: str, records: list[dict]) -> Path:
    root = tmp_path / name
    write_raw(root / "data" / "raw", records[: len(records) // 2], "a.jsonl")
    write_raw(root / "data" / "raw", records[len(records) // 2 :], "b.jsonl")
    return root


def assert_dedup_acted(outputs: dict[str, bytes]) -> None:
    report = json.loads(outputs["reports/preprocess.json"])
    assert report["documents"]["dropped"].get("exact_duplicate", 0) >= 1
    assert report["documents"]["dropped"].get("near_duplicate", 0) >= 1
    assert report["documents"]["out"] >= 10


def test_two_processes_small_batches_write_the_single_process_bytes(shared_dir, tmp_path):
    records = corpus_records(shared_dir)
    single = run_outputs(stage_root(tmp_path, "one", records), params(workers=1, batch_chars=10**9))
    # ~20 batches: a document's duplicate is almost always in another batch than its original
    parallel = run_outputs(stage_root(tmp_path, "two", records), params(workers=2, batch_chars=60_000))
    assert_dedup_acted(single)
    for name in OUTPUTS:
        assert parallel[name] == single[name], name


def test_batch_size_does_not_change_the_output(tmp_path):
    """Without the shared corpus: our fixture, one document per batch vs all in one, in-process."""
    records = fixture_records()
    whole = run_outputs(stage_root(tmp_path, "whole", records), params(workers=1, batch_chars=10**9))
    each = run_outputs(stage_root(tmp_path, "each", records), params(workers=1, batch_chars=1_000))
    report = json.loads(whole["reports/preprocess.json"])
    assert report["documents"]["dropped"]["exact_duplicate"] == 1
    assert report["documents"]["dropped"]["near_duplicate"] == 1
    assert each == whole


def test_histogram_mean_and_median_equal_statistics_on_the_list():
    rng = random.Random(7)
    for n in (1, 2, 3, 10, 101, 1000):
        values = [rng.randint(1, 300) for _ in range(n)]
        hist = Counter(values)
        assert _hist_median(hist) == statistics.median(values)
        assert type(_hist_median(hist)) is type(statistics.median(values))
        assert _hist_mean(hist) == statistics.fmean(values)


def test_group_stats_merge_adds_every_field():
    a, b = GroupStats(docs_in=1, ttr_sum=0.5), GroupStats(docs_in=2, words=3, ttr_sum=0.25)
    a.sentence_lengths.update([3, 4])
    b.sentence_lengths.update([4])
    a.merge(b)
    assert (a.docs_in, a.words, a.ttr_sum) == (3, 3, 0.75)
    assert a.sentence_lengths == Counter({3: 1, 4: 2})


def test_unknown_executor_and_bad_workers_fail_with_the_dotted_key():
    with pytest.raises(SanchaekError, match="preprocess.executor"):
        params_from_dict({"preprocess": {"executor": "spark"}})
    with pytest.raises(SanchaekError, match="preprocess.workers"):
        params_from_dict({"preprocess": {"workers": -1}})


# ---------------------------------------------------------------------------------------------
# preprocess.executor: dask


def test_dask_cluster_on_localhost_writes_the_single_process_bytes(tmp_path):
    distributed = pytest.importorskip("distributed")
    records = fixture_records() + [
        record(f"more-{i}", text, genre="essay")
        for i, text in enumerate(r["text"] + " 그리고 다시 길을 나섰다." for r in fixture_records()[:3])
    ]
    single = run_outputs(stage_root(tmp_path, "one", records), params(workers=1, batch_chars=10**9))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        p = params(executor="dask", dask_scheduler=cluster.scheduler_address, batch_chars=1_000)
        on_dask = run_outputs(stage_root(tmp_path, "dask", records), p)
        with distributed.Client(cluster) as client:
            # both workers took batches: the run was spread, not served by one process
            ran = client.run(lambda dask_worker: len(dask_worker.data) + dask_worker.state.executed_count)
    assert len(ran) == 2 and all(n > 0 for n in ran.values()), ran
    assert_dedup_acted_small(single)
    assert on_dask == single


def test_unreachable_dask_scheduler_is_one_clear_line(tmp_path):
    pytest.importorskip("distributed")
    root = stage_root(tmp_path, "dead", fixture_records())
    p = params(executor="dask", dask_scheduler="tcp://127.0.0.1:9")
    with pytest.raises(SanchaekError, match=r"preprocess.dask_scheduler: cannot reach tcp://127.0.0.1:9"):
        run_stage(root, p)
    assert not (root / "data" / "interim" / "passages.jsonl").exists()


def assert_dedup_acted_small(outputs: dict[str, bytes]) -> None:
    report = json.loads(outputs["reports/preprocess.json"])
    assert report["documents"]["dropped"]["exact_duplicate"] >= 1
    assert report["documents"]["dropped"]["near_duplicate"] >= 1


def test_a_worker_process_that_dies_is_one_clear_line():
    plan = ExecutionPlan("local", 2, what="preprocess")
    with pytest.raises(SanchaekError, match="preprocess worker process died .* lower preprocess.batch_chars"):
        list(ordered_map(os._exit, [3, 3, 3], plan))  # the worker exits mid-task, as an OOM kill does


def test_dask_without_a_scheduler_starts_and_closes_its_own_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    records = fixture_records()
    single = run_outputs(stage_root(tmp_path, "one", records), params(workers=1, batch_chars=10**9))
    p = params(executor="dask", workers=2, batch_chars=1_000)
    assert run_outputs(stage_root(tmp_path, "dask", records), p) == single
