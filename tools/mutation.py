"""Mutation testing of the core modules (`make mutation`): mutmut over each module against its own tests.

Every row of ``TARGETS`` names one module, the tests that guard it, and (where a whole-file run is too
slow or mostly glue) the functions to mutate. Each row runs alone in its own scratch copy of the
project (``.mutation/<name>/``), with one worker process and a wall-clock limit, and the results go to
``reports/quality/mutation.json``: per module the mutants, killed, survived, timeout, and every
survivor with its file, line and the mutation. Survivors that are equivalent mutants (no test can
tell them from the code) are explained in ``EQUIVALENT`` and counted apart; real bugs on a path no test
here reaches (the GPU's) are explained in ``UNREACHED_HERE`` and stay counted as survivors, with the
explanation beside them (both in tools/mutation_explained.py).

    python tools/mutation.py                 # every module
    python tools/mutation.py proxies query   # just these rows (the others keep their last result)
    python tools/mutation.py --survivors proxies  # only last run's survivors again, after adding tests
    python tools/mutation.py --explain       # re-apply EQUIVALENT and UNREACHED_HERE to the last results

Why mutmut (3.8.1) rather than cosmic-ray (8.7.0): mutmut forks each mutant from one warm pytest
process and runs only the tests that reached the mutated function, where cosmic-ray starts a fresh
test command per mutant (torch + transformers imports: ~10 s each on this machine's shared cores).
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mutation_explained import EQUIVALENT, UNREACHED_HERE  # beside this script

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "quality" / "mutation.json"
SCRATCH = ROOT / ".mutation"


@dataclass(frozen=True)
class Target:
    name: str
    module: str  # path of the file to mutate, from the repository root
    tests: tuple[str, ...]  # test files or node ids that guard it
    functions: tuple[str, ...] = ()  # "func" or "Class.method" / "Class.*"; empty: the whole file
    timeout_s: int = 900
    note: str = ""  # what was left out of the run, and why


# test_crawl_fetch.py without its two real-timeout tests (seconds of waiting per mutant)
_FETCH_TESTS = (
    "test_http_proxy_from_the_environment_carries_every_request",
    "test_https_proxy_tunnels_and_ca_bundle_trusts_the_site",
    "test_a_chain_of_exactly_max_redirects_hops_succeeds_and_one_more_fails",
    "test_http_to_https_on_the_same_host_is_followed_and_https_to_http_is_not",
    "test_unreadable_ca_bundle_is_one_clear_line",
    "test_an_opted_out_site_under_a_path_prefix_is_refused",
    "test_sources_are_validated_before_any_crawling",
)

# the PII tests of test_text.py (the hand-written sets, the 100k-character tokens) and the properties
_PII_TESTS = (
    *(f"tests/test_text.py::{t}" for t in (
        "test_pii_positive", "test_pii_negative", "test_pii_only_enabled_kinds_and_luhn",
        "test_pii_recall_per_kind_and_clean_strings_kept", "test_optional_kinds_are_off_by_default",
        "test_pii_scrubbing_is_linear_on_100k_character_tokens",
        "test_scrubbing_leaves_no_match_and_changes_nothing_without_one")),
    "tests/test_properties_text.py::test_scrubbing_leaves_no_match_and_touches_nothing_without_one",
    "tests/test_mutation_kills_pii.py",
)  # fmt: skip

# One row per core module: add a module here and `make mutation` covers it.
# fmt: off
TARGETS: tuple[Target, ...] = (
    Target("crawl_robots", "src/sanchaek/crawl/robots.py",
           ("tests/test_crawl_robots.py", "tests/test_properties_robots.py", "tests/test_mutation_kills_robots.py")),
    Target("crawl_fetcher", "src/sanchaek/crawl/fetcher.py",
           (*(f"tests/test_crawl_fetch.py::{t}" for t in _FETCH_TESTS), "tests/test_mutation_kills_fetcher.py"),
           ("Fetcher.get", "Fetcher._check_redirect", "Fetcher._request_with_retries", "Fetcher._wait_turn",
            "Fetcher._check_robots", "Fetcher._load_robots", "Fetcher.robots_for", "Fetcher.allowed",
            "Fetcher.redact", "Fetcher.add_secret", "_origin", "parse_retry_after"),
           note="Fetcher._send and __post_init__ (streaming, timeouts, TLS) are crawl_fetcher_send's row; the "
                "two real-timeout tests are run there, and tests/test_crawl.py (whole crawls through the "
                "fetcher) is left out: with them a run takes over half an hour on 2 shared cores"),
    Target("proxies", "src/sanchaek/proxies.py",
           ("tests/test_proxies.py", "tests/test_mutation_kills_proxies.py")),
    Target("ratings_stats", "src/sanchaek/ratings.py",
           ("tests/test_ratings.py", "tests/test_properties_ratings.py", "tests/test_mutation_kills_ratings.py"),
           ("wilson_interval", "bradley_terry")),
    Target("votes_agreement", "src/sanchaek/votes/agreement.py",
           ("tests/test_ratings.py::test_krippendorff_alpha_against_hand_values",
            "tests/test_mutation_kills_votes.py")),
    Target("query_split", "src/sanchaek/query.py",
           ("tests/test_query.py::test_split_documents_fraction_and_seed", "tests/test_properties_query.py",
            "tests/test_mutation_kills_query.py"),
           ("document_rank", "split_documents"),
           note="test_query.py's tests that search a Lucene index left out (a JVM and an index per mutant)"),
    Target("model_data", "src/sanchaek/model/data.py",
           ("tests/test_train.py::test_global_batches_split_over_processes_equals_one_process",
            "tests/test_properties_batches.py", "tests/test_mutation_kills_model.py"),
           ("TokenBlocks.*", "GlobalBatches.*", "MicroBatchDataset.*")),
    Target("model_optim", "src/sanchaek/model/optim.py",
           ("tests/test_train.py::test_cosine_schedule_shape",
            "tests/test_train.py::test_master_adamw_is_clip_grad_norm_then_torch_adamw_on_the_widened_gradients",
            "tests/test_mutation_kills_model.py"),
           ("decay_groups", "cosine_with_warmup", "adamw_master_update", "MasterAdamW.*")),
    Target("klue_metrics", "src/sanchaek/klue/metrics.py",
           ("tests/test_klue_re.py::test_micro_f1_hand_computed_excludes_no_relation",
            "tests/test_klue_re.py::test_auprc_hand_computed_two_classes",
            "tests/test_klue_re.py::test_auprc_perfect_ranking_and_absent_class_like_klue_baseline",
            "tests/test_mutation_kills_klue.py"),
           ("klue_re_micro_f1", "klue_re_auprc"),
           note="the metric tests only: the fine-tuning tests of klue/ reach the metrics too, "
                "but train a model per mutant"),
    Target("crawl_fetcher_send", "src/sanchaek/crawl/fetcher.py",
           ("tests/test_crawl_fetch.py", "tests/test_mutation_kills_fetcher.py"),
           ("Fetcher._send", "Fetcher.__post_init__"), timeout_s=1500,
           note="the fetcher's socket half (streaming, size cap, response deadline, TLS, proxies) apart from "
                "crawl_fetcher's row, so each runs in a bounded time; every test of test_crawl_fetch.py, the "
                "two real-timeout ones included. tests/test_crawl.py (whole crawls) left out"),
    Target("model_adapters", "src/sanchaek/model/adapters.py",
           ("tests/test_lora.py::test_default_targets_are_every_block_linear_layer_per_architecture",
            "tests/test_mutation_kills_adapters.py"),
           ("block_linear_names", "resolve_target_modules", "grown_vocabulary_modules", "_leaf_name", "add_lora",
            "require_qlora_support", "is_adapter_dir", "adapter_base", "base_for_adapter_config", "save_adapter",
            "AdapterRun.*"),
           note="nf4_config (bitsandbytes' CUDA kernels) and merged_model / write_merged_model (load, merge and "
                "save a trained adapter) left out, with test_lora.py's training runs: a LoRA run per mutant"),
    Target("model_dpo", "src/sanchaek/model/dpo.py",
           ("tests/test_align_loss.py::test_dpo_and_ipo_losses_match_hand_computed_values",
            "tests/test_align_loss.py::test_sequence_logps_sum_the_completion_tokens_only",
            "tests/test_align_loss.py::test_pairs_are_skipped_and_counted_for_each_bad_input",
            "tests/test_mutation_kills_dpo.py"),
           note="test_align_loss.py's comparisons with TRL's DPOTrainer left out (a trainer per mutant)"),
    Target("model_memory_plan", "src/sanchaek/model/memory_plan.py",
           ("tests/test_lora.py::test_memory_plan_counts_lora_parameters_exactly_and_shrinks_with_each_knob",
            "tests/test_mutation_kills_memory_plan.py"),
           note="test_lora.py's checks against autograd's saved tensors and train() left out (models built per "
                "mutant); on this CPU-only machine available_memory's CUDA branch is not reached"),
    Target("search_embedding", "src/sanchaek/search/embedding.py",
           ("tests/test_search_themes.py::test_reciprocal_rank_fusion_orders_by_summed_reciprocal_ranks",
            "tests/test_mutation_kills_search.py"),
           ("normalise", "text_key", "model_cache_dir", "read_cache", "write_part", "next_part_index",
            "write_embeddings", "DenseIndex.*", "load_dense_index", "reciprocal_rank_fusion"),
           note="the cache, cosine search, the stage's files and rank fusion; the embedders (a model each) and "
                "embed_texts (being given a process pool) left out"),
    Target("text_pii", "src/sanchaek/text/pii.py", _PII_TESTS),
    Target("text_pii_numbers", "src/sanchaek/text/pii_numbers.py",
           (*_PII_TESTS, "tests/test_mutation_kills_pii_numbers.py"),
           ("luhn_ok", "rrn_check_ok", "rrn_date_ok", "ean13_ok", "card_network_ok", "_year_range",
            "classify_number", "_phone_national", "_service_number", "_account_shape", "_date_like", "_timestamp"),
           note="the validators and the classifier; the run splitter (number_spans, _classify_groups, "
                "_longest_pii) left out: its loop mutants each run until mutmut's timeout, past this row's "
                "time bound (the PII sets of test_text.py exercise it)"),
    Target("text_dedup", "src/sanchaek/text/dedup.py",
           ("tests/test_text.py::test_exact_dedup_ignores_spacing_and_punctuation",
            "tests/test_text.py::test_near_dedup_finds_edited_copy_and_keeps_different_text",
            "tests/test_mutation_kills_dedup.py")),
    Target("model_sampling", "src/sanchaek/model/sampling.py",
           (*(f"tests/test_generate.py::{t}" for t in (
               "test_logit_processing_matches_hugging_face",
               "test_fixed_shape_processing_equals_processing_the_written_prefix",
               "test_padding_is_not_text_for_the_penalties",
               "test_top_candidates_give_the_distribution_of_the_vocabulary_filters")),
            "tests/test_mutation_kills_sampling.py"),
           note="the engine tests of test_generate.py (a model decoding per mutant) left out: "
                "tests/test_mutation_kills_sampling.py calls the step as the engine does"),
    Target("search_fusion", "src/sanchaek/search/fusion.py", ("tests/test_mutation_kills_search.py",),
           note="test_search_themes.py's fusion test left out: it builds a Lucene index and embeds with the "
                "real model per mutant"),
)
# fmt: on

def _lookup(
    table: dict[str, list[tuple[str, str, str]]], target: str, function: str, mutation: str
) -> str | None:
    mutated = mutation.split("  ->  ", 1)[-1]
    for func, piece, reason in table.get(target, []):
        # "^old  ->  new": the whole mutation exactly (a deleted line's mutated side is empty)
        found = mutation == piece[1:] if piece.startswith("^") else piece in mutated
        if func == function and found:
            return reason
    return None


def equivalence(target: str, function: str, mutation: str) -> str | None:
    return _lookup(EQUIVALENT, target, function, mutation)


def unreached_here(target: str, function: str, mutation: str) -> str | None:
    return _lookup(UNREACHED_HERE, target, function, mutation)


def with_explanation(target: str, entry: dict) -> dict:
    """A survivor, with why no test here kills it where UNREACHED_HERE says."""
    why = unreached_here(target, entry["function"], entry["mutation"])
    return {**entry, "explanation": why} if why else entry


STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    None: "not checked",
}


def mangled(function: str) -> str:
    """mutmut's name of a function's mutants: x_func, or xǁClassǁmethod for a method."""
    if "." in function:
        cls, method = function.split(".", 1)
        return f"xǁ{cls}ǁ{method}"
    return f"x_{function}"


def module_name(path: str) -> str:
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def patterns(target: Target) -> list[str]:
    prefix = module_name(target.module)
    if not target.functions:
        return [f"{prefix}.*"]
    return [f"{prefix}.{mangled(f)}__mutmut_*" for f in target.functions]


def prepare(target: Target) -> Path:
    """A scratch copy of the project with a mutmut section for this target only."""
    work = SCRATCH / target.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("params.yaml", "dvc.yaml"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, work / name)
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    missing = [t for t in target.tests if not (ROOT / t.split("::")[0]).exists()]
    if missing:
        raise SystemExit(f"{target.name}: test file(s) {missing} do not exist: fix the row in TARGETS")
    selection = json.dumps(list(target.tests))
    pyproject += (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f'only_mutate = ["{target.module}"]\n'
        f"pytest_add_cli_args_test_selection = {selection}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:randomly"]\n'
        'also_copy = ["params.yaml", "dvc.yaml"]\n'
    )
    (work / "pyproject.toml").write_text(pyproject, "utf-8")
    return work


def function_starts(source: str) -> dict[str, int]:
    """First line (decorators included) of every function and method, by mutmut's mangled name."""
    starts: dict[str, int] = {}
    tree = ast.parse(source)
    for node in tree.body:
        items = [(None, node)] if not isinstance(node, ast.ClassDef) else [(node.name, n) for n in node.body]
        for cls, item in items:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([item.lineno] + [d.lineno for d in item.decorator_list])
                starts[mangled(f"{cls}.{item.name}" if cls else item.name)] = first
    return starts


def describe(diff: str, start: int) -> tuple[int, str]:
    """(file line, "- old / + new") of a mutant's function diff."""
    line, removed, added, where = start, [], [], None
    for text in diff.splitlines():
        hunk = re.match(r"@@ -(\d+)", text)
        if hunk:
            line = start + int(hunk.group(1)) - 1
            continue
        if text.startswith(("---", "+++")):
            continue
        if text.startswith("-"):
            where = where or line
            removed.append(text[1:].strip())
            line += 1
        elif text.startswith("+"):
            where = where or line
            added.append(text[1:].strip())
        else:
            line += 1
    return where or start, f"{' / '.join(removed)}  ->  {' / '.join(added)}"


def run_target(target: Target, only: list[str] | None = None) -> dict:
    """Mutate ``target`` (or just the mutants named in ``only``) and count the outcomes."""
    work = prepare(target)
    names = only if only is not None else patterns(target)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        DVC_NO_ANALYTICS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    mutmut = [sys.executable, "-m", "mutmut"]
    began = time.monotonic()
    try:
        proc = subprocess.run(
            [*mutmut, "run", "--max-children", "1", *names],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=target.timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {
            "module": target.module,
            "tests": list(target.tests),
            "functions": list(target.functions),
            "status": "not run",
            "reason": f"did not finish within {target.timeout_s} s",
        }
    wall = round(time.monotonic() - began, 1)
    (SCRATCH / f"{target.name}.log").write_text(proc.stdout + proc.stderr, "utf-8")
    meta_path = work / "mutants" / (target.module + ".meta")
    if proc.returncode != 0 or not meta_path.exists():
        # the last lines that are not mutmut's progress spinner (its full output: .mutation/NAME.log)
        lines = (proc.stdout + proc.stderr).replace("\r", "\n").strip().splitlines()
        tail = [line for line in lines if line.strip() and line.lstrip()[:1] not in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"][-3:]
        return {
            "module": target.module,
            "tests": list(target.tests),
            "functions": list(target.functions),
            "status": "not run",
            "reason": f"mutmut exited {proc.returncode}: {' | '.join(tail)}",
        }
    exit_codes = json.loads(meta_path.read_text("utf-8"))["exit_code_by_key"]
    chosen = {k: v for k, v in exit_codes.items() if any(fnmatch.fnmatch(k, p) for p in names)}
    starts = function_starts((ROOT / target.module).read_text("utf-8"))
    counts = {"killed": 0, "survived": 0, "timeout": 0, "no tests": 0, "not checked": 0, "other": 0}
    survivors, equivalent = [], []
    alive = [k for k, code in chosen.items() if STATUS.get(code) in ("survived", "no tests")]
    diffs = mutant_diffs(work, env, alive)
    for key, code in sorted(chosen.items(), key=lambda kv: natural(kv[0])):
        status = STATUS.get(code, "other")
        if status == "skipped":
            continue
        counts[status if status in counts else "other"] += 1
        if status not in ("survived", "no tests"):
            continue
        func = key.rsplit(".", 1)[1].split("__mutmut_")[0]
        line, mutation = describe(diffs[key], starts.get(func, 1))
        entry = {
            "file": target.module,
            "line": line,
            "function": readable(func),
            "mutation": mutation,
            "mutant": key,
            "status": status,
        }
        reason = equivalence(target.name, readable(func), mutation)
        if reason:
            equivalent.append({**entry, "equivalent_because": reason})
        else:
            survivors.append(with_explanation(target.name, entry))
    total = sum(counts.values())
    judged = total - len(equivalent)
    return {
        "module": target.module,
        "tests": list(target.tests),
        "functions": list(target.functions) or ["(whole file)"],
        "status": "run",
        "note": target.note,
        "source_sha256": source_sha256(target),
        "wall_s": wall,
        "mutants": total,
        **counts,
        "equivalent": len(equivalent),
        # a mutant that made its tests run past the limit was detected too (an endless loop, say)
        "kill_rate": round((counts["killed"] + counts["timeout"]) / judged, 4) if judged else None,
        "survivors": survivors,
        "equivalent_mutants": equivalent,
    }


SHOW_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
print(json.dumps({k: get_diff_for_mutant(k) for k in json.loads(sys.stdin.read())}))
"""


def mutant_diffs(work: Path, env: dict, keys: list[str]) -> dict[str, str]:
    """`mutmut show` of many mutants in one process (each `mutmut show` call costs a python start)."""
    if not keys:
        return {}
    proc = subprocess.run(
        [sys.executable, "-c", SHOW_DIFFS],
        cwd=work,
        env=env,
        input=json.dumps(keys),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def natural(key: str) -> tuple:
    head, _, num = key.rpartition("__mutmut_")
    return (head, int(num) if num.isdigit() else 0)


def readable(func: str) -> str:
    return func[2:].replace("ǁ", ".")


def source_sha256(target: Target) -> str:
    return hashlib.sha256((ROOT / target.module).read_bytes()).hexdigest()


def rerun_survivors(target: Target, previous: dict) -> dict:
    """Test again only the last run's survivors (after tests were added): a mutant once killed stays
    killed while the module's source is unchanged, as mutmut's own cache assumes."""
    if previous.get("status") != "run" or previous.get("source_sha256") != source_sha256(target):
        return run_target(target)
    alive = [s["mutant"] for s in previous["survivors"]]
    if not alive:
        return previous
    row = run_target(target, only=alive)
    if row["status"] != "run":
        return {**previous, "rerun": row}
    for status in ("killed", "timeout", "other", "not checked"):
        row[status] += previous[status]
    for kept in previous["equivalent_mutants"]:  # not tested again: still counted where they were
        row[kept["status"]] += 1
    row["mutants"] = previous["mutants"]
    row["equivalent_mutants"] = previous["equivalent_mutants"] + row["equivalent_mutants"]
    row["equivalent"] = len(row["equivalent_mutants"])
    judged = row["mutants"] - row["equivalent"]
    row["kill_rate"] = round((row["killed"] + row["timeout"]) / judged, 4) if judged else None
    row["wall_s"] = round(previous["wall_s"] + row["wall_s"], 1)
    row["survivors_rerun"] = len(alive)
    return row


def explain(name: str, row: dict) -> dict:
    """Move the survivors that EQUIVALENT now explains into the equivalent list (no mutmut run)."""
    if row.get("status") != "run":
        return row
    still, moved = [], []
    for entry in row["survivors"]:
        reason = equivalence(name, entry["function"], entry["mutation"])
        if reason:
            moved.append({**entry, "equivalent_because": reason})
        else:
            still.append(with_explanation(name, entry))
    row = {**row, "survivors": still, "equivalent_mutants": row["equivalent_mutants"] + moved}
    row["equivalent"] = len(row["equivalent_mutants"])
    judged = row["mutants"] - row["equivalent"]
    row["kill_rate"] = round((row["killed"] + row["timeout"]) / judged, 4) if judged else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="rows of TARGETS to run (default: all)")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="test only the last run's survivors again (the module unchanged, tests added since)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="only re-apply EQUIVALENT and UNREACHED_HERE to the last results (no mutmut run)",
    )
    args = parser.parse_args()
    unknown = set(args.names) - {t.name for t in TARGETS}
    if unknown:
        sys.exit(f"unknown target(s) {sorted(unknown)}: pick from {[t.name for t in TARGETS]}")
    report = json.loads(REPORT.read_text("utf-8")) if REPORT.exists() else {}
    modules = report.get("modules", {})
    for target in TARGETS:
        if args.names and target.name not in args.names:
            continue
        previous = modules.get(target.name, {})
        if args.explain:
            if not previous:
                continue
            modules[target.name] = explain(target.name, previous)
        else:
            print(f"mutating {target.module} ({target.name}) ...", flush=True)
            modules[target.name] = rerun_survivors(target, previous) if args.survivors else run_target(target)
        row = modules[target.name]
        if row.get("status") == "run":  # survivors that UNREACHED_HERE explains
            row["explained"] = sum(1 for entry in row["survivors"] if "explanation" in entry)
        print(
            f"  {row.get('killed', '-')}/{row.get('mutants', '-')} killed, {row.get('survived', '-')} survived"
            f" ({row.get('status')}{': ' + row['reason'] if 'reason' in row else ''})",
            flush=True,
        )
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "tool": f"mutmut {version()}",
            "target_kill_rate": 0.9,
            "modules": {t.name: modules[t.name] for t in TARGETS if t.name in modules},
        }
        REPORT.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")


def version() -> str:
    from importlib.metadata import version as dist_version

    return dist_version("mutmut")


if __name__ == "__main__":
    main()
