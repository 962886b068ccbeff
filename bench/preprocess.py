"""Benchmark the preprocess stage on the real corpus, beside the naive pipeline a user would write
and beside today's code (a git revision, ``--baseline-rev``), all in one run.

One run measures:
  * ours: ``sanchaek.preprocess.preprocess`` on data/raw (or works.jsonl mapped to raw records),
    characters/s of the whole stage, seconds per step, and how many sentences and documents each
    filter drops (the drop reasons of reports/preprocess.json) and PII found per kind;
  * baseline: the same for the code at ``--baseline-rev`` (extracted with ``git archive`` and run in
    a subprocess), so speed and per-filter drops are compared before/after on the same machine;
  * naive: per document regex cleanup + NFC, one Kiwi ``split_into_sents`` call per document (no
    batching, one thread), per-sentence PII regexes, exact dedup with a set, MinHash with one
    ``update`` per shingle (the datasketch README way), greedy passages;
  * splitters on gold boundaries: KoCoNovel stories (modern literary, one gold sentence per line),
    KLUE sentences (modern general domain), 8 gold sentences joined per paragraph, and the
    project's hard-case set (tests/data/sentences/, dev and held-out parts, optional boundaries):
    regex, Kiwi, hybrid (ours and the baseline's), with and without the quote rule; kss if
    ``--kss-python`` names an interpreter that has kss installed (kss is slow, so it gets a sample
    of ``--kss-paragraphs`` of the large sets and every hard paragraph);
  * PII recall per kind and clean look-alikes altered on tests/data/pii/ (ours and the baseline's).

Usage: .venv/bin/python bench/preprocess.py [--baseline-rev REV] [--kss-python /path/to/python]
Writes reports/bench/preprocess.json.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sanchaek.config import load_params  # noqa: E402
from sanchaek.preprocess import preprocess, raw_files  # noqa: E402
from sanchaek.text import goldsets  # noqa: E402
from sanchaek.text.pii import DEFAULT_KINDS, TAGS, PiiScrubber  # noqa: E402
from sanchaek.text.sentences import SentenceSplitter  # noqa: E402

WORKS = ROOT.parent / "shared" / "data" / "corpus" / "works.jsonl"
KLUE = ROOT.parent / "shared" / "data" / "klue-text" / "sentences.jsonl"
GOLD_PER_PARAGRAPH = 8
DATA = ROOT / "tests" / "data"


def corpus_raw_files(tmp: Path) -> list[Path]:
    raw_dir = ROOT / "data" / "raw"
    if list(raw_dir.glob("*.jsonl")):
        return raw_files(raw_dir)
    out = tmp / "corpus.jsonl"
    with WORKS.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            w = json.loads(line)
            rec = {k: w.get(k) for k in ("id", "title", "author", "genre", "layout", "text")}
            rec.update(source="corpus", url=None, published=None, fetched_at=None, origin=w.get("source"))
            dst.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return [out]


def read_records(files: list[Path]) -> list[dict]:
    return [json.loads(line) for f in files for line in f.open(encoding="utf-8") if line.strip()]


# ------------------------------------------------------------------------------------------------
# the naive pipeline


def naive_pipeline(records: list[dict], passage_chars: int) -> tuple[dict, int]:
    from datasketch import MinHash, MinHashLSH
    from kiwipiepy import Kiwi

    timings = dict.fromkeys(("normalize", "split", "pii", "filters", "dedup", "passages"), 0.0)
    kiwi = Kiwi(num_workers=1)
    seen, lsh, n_passages = set(), MinHashLSH(threshold=0.8, num_perm=128), 0
    for r in records:
        t = time.perf_counter()
        text = unicodedata.normalize("NFC", r["text"])
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
        text = re.sub(r"[ \t]+", " ", text)
        text = re.sub(r"\n{3,}", "\n\n", text).strip()
        timings["normalize"] += time.perf_counter() - t

        t = time.perf_counter()
        if r.get("layout") == "sentence_per_line":
            sents = [s for s in text.split("\n") if s.strip()]
        else:
            sents = [s.text for s in kiwi.split_into_sents(text)]
        timings["split"] += time.perf_counter() - t

        t = time.perf_counter()
        clean = []
        for s in sents:
            s = re.sub(r"[\w.+-]+@[\w-]+\.[\w.]+", "<EMAIL>", s)
            s = re.sub(r"https?://\S+", "<URL>", s)
            s = re.sub(r"01[016789]-?\d{3,4}-?\d{4}", "<PHONE>", s)
            s = re.sub(r"\d{6}-?[1-4]\d{6}", "<RRN>", s)
            clean.append(s)
        timings["pii"] += time.perf_counter() - t

        t = time.perf_counter()
        clean = [s for s in clean if len(s) >= 2 and len(re.findall(r"[가-힣]", s)) / max(len(s), 1) > 0.3]
        timings["filters"] += time.perf_counter() - t

        t = time.perf_counter()
        joined = " ".join(clean)
        if joined in seen:
            continue
        seen.add(joined)
        m = MinHash(num_perm=128)
        compact = re.sub(r"\W+", "", joined)
        for i in range(len(compact) - 4):
            m.update(compact[i : i + 5].encode("utf-8"))
        dup = lsh.query(m)
        if not dup:
            lsh.insert(r["id"], m)
        timings["dedup"] += time.perf_counter() - t
        if dup:
            continue

        t = time.perf_counter()
        current = ""
        for s in clean:
            if current and len(current) + 1 + len(s) > passage_chars:
                n_passages += 1
                current = s
            else:
                current = f"{current} {s}" if current else s
        n_passages += bool(current)
        timings["passages"] += time.perf_counter() - t
    return timings, n_passages


# ------------------------------------------------------------------------------------------------
# splitter accuracy on gold boundaries


def gold_sets() -> dict[str, list[goldsets.GoldParagraph]]:
    def plain(paragraphs: list[list[str]]) -> list[goldsets.GoldParagraph]:
        return [goldsets.GoldParagraph(tuple(p), (False,) * len(p)) for p in paragraphs]

    works = [json.loads(x) for x in WORKS.open(encoding="utf-8")]
    literary = []
    for w in works:
        if w.get("layout") == "sentence_per_line":
            lines = [ln.strip() for ln in w["text"].split("\n") if ln.strip()]
            literary += [lines[i : i + GOLD_PER_PARAGRAPH] for i in range(0, len(lines), GOLD_PER_PARAGRAPH)]
    sets = {"koconovel_literary": plain(literary)}
    if KLUE.exists():
        klue = [t for t in (json.loads(x).get("text", "").strip() for x in KLUE.open(encoding="utf-8")) if t]
        sets["klue_general"] = plain(
            [klue[i : i + GOLD_PER_PARAGRAPH] for i in range(0, len(klue), GOLD_PER_PARAGRAPH)]
        )
    for part in ("dev", "holdout"):
        sets[f"hard_{part}"] = goldsets.read_boundary_gold(DATA / "sentences" / f"hard_{part}.txt")
    return sets


def score(gold: list[goldsets.GoldParagraph], pred: list[list[str]]) -> dict:
    return goldsets.boundary_scores(gold, pred)


def measure_splitters(sets: dict[str, list[list[str]]], workers: int) -> dict:
    configs = {
        "regex": ("regex", False, 0),
        "regex+quotes": ("regex", True, 0),
        "kiwi": ("kiwi", False, 0),
        "kiwi+quotes": ("kiwi", True, 0),
        "hybrid60+quotes": ("hybrid", True, 60),
        "hybrid120+quotes (default)": ("hybrid", True, 120),
    }
    results: dict = {}
    for name, (kind, quotes, min_chars) in configs.items():
        splitter = SentenceSplitter(
            kind, quote_aware=quotes, workers=workers, kiwi_min_chars=min_chars or 120
        )
        splitter.split(["준비 운동이다."])
        results[name] = {}
        for set_name, gold in sets.items():
            texts = [g.text for g in gold]
            t = time.perf_counter()
            pred = splitter.split(texts)
            seconds = time.perf_counter() - t
            chars = sum(map(len, texts))
            results[name][set_name] = {"chars_per_s": round(chars / seconds), **score(gold, pred)}
    return results


KSS_SCRIPT = """
import json, sys, time, kss
texts = json.load(sys.stdin)
kss.split_sentences("준비 운동이다. 그렇다.")
t = time.perf_counter()
pred = kss.split_sentences(texts)
print(json.dumps({"seconds": time.perf_counter() - t, "pred": pred}, ensure_ascii=False))
"""


def measure_kss(python: str, sets: dict[str, list[goldsets.GoldParagraph]], n: int, workers: int) -> dict:
    out: dict = {}
    kiwi = SentenceSplitter("kiwi", quote_aware=False, workers=workers)
    hybrid = SentenceSplitter("hybrid", workers=workers)
    for set_name, gold in sets.items():
        sample = gold if set_name.startswith("hard_") else gold[:n]
        texts = [g.text for g in sample]
        proc = subprocess.run(
            [python, "-c", KSS_SCRIPT],
            input=json.dumps(texts, ensure_ascii=False),
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        chars = sum(map(len, texts))
        # Kiwi and ours on the same sample, for a like-for-like comparison
        out[set_name] = {
            "paragraphs": len(sample),
            "kss_pecab": {"chars_per_s": round(chars / res["seconds"]), **score(sample, res["pred"])},
            "kiwi_same_sample": score(sample, kiwi.split(texts)),
            "hybrid_same_sample": score(sample, hybrid.split(texts)),
        }
    return out


# ------------------------------------------------------------------------------------------------
# today's code (a git revision), run in a subprocess on the same corpus and gold sets

BASELINE_SCRIPT = """
import json, sys, time
from pathlib import Path
args = json.load(sys.stdin)
sys.path.insert(0, args["src"])
from sanchaek.config import load_params
from sanchaek.preprocess import preprocess
from sanchaek.text.pii import PiiScrubber
from sanchaek.text.sentences import SentenceSplitter
params = load_params(args["params"]).preprocess
timings = {}
t = time.perf_counter()
result = preprocess([Path(f) for f in args["files"]], params, timings=timings)
seconds = time.perf_counter() - t
splitter = SentenceSplitter("hybrid", workers=params.split.workers)
splitter.split(["준비 운동이다."])
split = {}
for name, texts in args["texts"].items():
    t = time.perf_counter()
    pred = splitter.split(texts)
    split[name] = {"seconds": time.perf_counter() - t, "pred": pred}
scrubber = PiiScrubber()
print(json.dumps({"seconds": seconds, "timings": timings, "report": result.report, "passages": len(result.passages),
                  "split": split, "pii": [scrubber.scrub(x)[0] for x in args["pii_texts"]]}, ensure_ascii=False))
"""


def checkout(rev: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src", "params.yaml"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def run_baseline(rev: str, files: list[Path], sets: dict, pii_texts: list[str], tmp: Path) -> dict:
    tree = checkout(rev, tmp / "baseline")
    args = {
        "src": str(tree / "src"),
        "params": str(tree / "params.yaml"),
        "files": [str(f) for f in files],
        "texts": {name: [g.text for g in gold] for name, gold in sets.items()},
        "pii_texts": pii_texts,
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", BASELINE_SCRIPT],
        input=json.dumps(args, ensure_ascii=False),
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pii_quality(scrub_texts, cases: list[goldsets.PiiCase], clean: list[goldsets.LabelledLine]) -> dict:
    """Recall per default kind and clean strings altered, by split, from scrubbed outputs."""
    out_cases = scrub_texts([c.text for c in cases])
    out_clean = scrub_texts([r.text for r in clean])
    result = {}
    for split in ("dev", "holdout"):
        by_kind: dict = {}
        for case, got in zip(cases, out_cases, strict=True):
            if case.split != split:
                continue
            want = case.text[: case.start] + TAGS[case.kind] + case.text[case.end :]
            row = by_kind.setdefault(case.kind, [0, 0])
            row[0] += got == want
            row[1] += 1
        altered = [
            r.text for r, got in zip(clean, out_clean, strict=True) if r.split == split and got != r.text
        ]
        result[split] = {
            "recall": {k: f"{c}/{n} = {c / n:.3f}" for k, (c, n) in sorted(by_kind.items())},
            "clean_altered": f"{len(altered)}/{sum(1 for r in clean if r.split == split)}",
            "clean_altered_examples": altered[:10],
        }
    return result


def drops(report: dict) -> dict:
    return {
        "sentences_in": report["sentences"]["in"],
        "sentences_dropped": report["sentences"]["dropped"],
        "documents_dropped": report["documents"]["dropped"],
        "pii_found": {k: v for k, v in report["pii"]["found"].items() if v},
        "toxicity_sentence_hits": report["toxicity"]["sentence_hits"],
    }


# ------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kss-python", default=None, help="python interpreter with kss installed")
    ap.add_argument("--kss-paragraphs", type=int, default=40)
    ap.add_argument("--baseline-rev", default=None, help="git revision of today's code to time beside ours")
    ap.add_argument("--out", default=str(ROOT / "reports" / "bench" / "preprocess.json"))
    args = ap.parse_args()

    params = load_params(ROOT / "params.yaml").preprocess
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        files = corpus_raw_files(Path(tmp))
        records = read_records(files)
        chars = sum(len(r["text"]) for r in records)

        timings: dict[str, float] = {}
        t = time.perf_counter()
        result = preprocess(files, params, timings=timings)
        ours_s = time.perf_counter() - t

        t = time.perf_counter()
        naive_timings, naive_passages = naive_pipeline(records, params.passage_chars)
        naive_s = time.perf_counter() - t

        sets = gold_sets()
        cases = [c for c in goldsets.read_pii_cases(DATA / "pii" / "pii.tsv") if c.kind in DEFAULT_KINDS]
        clean = goldsets.read_labelled(DATA / "pii" / "clean.tsv")
        baseline = (
            run_baseline(
                args.baseline_rev, files, sets, [c.text for c in cases] + [r.text for r in clean], Path(tmp)
            )
            if args.baseline_rev
            else None
        )

    splitters = measure_splitters(sets, workers=params.split.workers)
    kss = (
        measure_kss(args.kss_python, sets, args.kss_paragraphs, params.split.workers)
        if args.kss_python
        else "not measured (pass --kss-python with an interpreter that has kss)"
    )
    scrubber = PiiScrubber(params.pii.kinds)
    pii = {"ours": pii_quality(lambda texts: [scrubber.scrub(x)[0] for x in texts], cases, clean)}
    before_after: dict = {"ours": drops(result.report)}
    if baseline:
        scrubbed = dict(zip([c.text for c in cases] + [r.text for r in clean], baseline["pii"], strict=True))
        pii["baseline"] = pii_quality(lambda texts: [scrubbed[t] for t in texts], cases, clean)
        before_after["baseline"] = drops(baseline["report"])
        splitters["hybrid (baseline)"] = {}
        for name, gold in sets.items():
            set_chars = sum(len(g.text) for g in gold)
            run = baseline["split"][name]
            splitters["hybrid (baseline)"][name] = {
                "chars_per_s": round(set_chars / run["seconds"]),
                **score(gold, run["pred"]),
            }
    report = {
        "machine": {
            "cpu_count": cores,
            "load_avg_1m_at_start": round(load_before, 2),
            "python": sys.version.split()[0],
        },
        "corpus": {"documents": len(records), "characters": chars, "files": [str(f.name) for f in files]},
        "ours": {
            "seconds": round(ours_s, 2),
            "chars_per_s": round(chars / ours_s),
            "steps_s": {k: round(v, 3) for k, v in timings.items()},
            "passages": len(result.passages),
            "splitter": params.split.splitter,
        },
        "naive": {
            "description": "per-document regex cleanup, one unbatched single-thread Kiwi call per document, "
            "per-sentence PII regexes, set-based exact dedup, per-shingle MinHash.update",
            "seconds": round(naive_s, 2),
            "chars_per_s": round(chars / naive_s),
            "steps_s": {k: round(v, 3) for k, v in naive_timings.items()},
            "passages": naive_passages,
        },
        "speedup_ours_over_naive": round(naive_s / ours_s, 2),
        "baseline": None
        if baseline is None
        else {
            "revision": args.baseline_rev,
            "seconds": round(baseline["seconds"], 2),
            "chars_per_s": round(chars / baseline["seconds"]),
            "steps_s": {k: round(v, 3) for k, v in baseline["timings"].items()},
            "passages": baseline["passages"],
        },
        "speed_ours_over_baseline": round(baseline["seconds"] / ours_s, 3) if baseline else None,
        "filters_before_after": before_after,
        "pii_sets": pii,
        "splitters": {"gold_sentences_per_paragraph": GOLD_PER_PARAGRAPH, "results": splitters, "kss": kss},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {
                k: report[k]
                for k in ("ours", "naive", "speedup_ours_over_naive", "baseline", "speed_ours_over_baseline")
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
