"""What the byte-stable Lucene index costs: the index stage's build against the in-place build it replaced.

In ONE run, on the same passages (cut from the public-domain corpus) and the same ``index_threads``,
alternating the two builds (and which goes first) ``--rounds`` times after an untimed warm-up:
  * canonical — ``EmbeddedBackend.index`` as the stage runs it: workers fill scratch segments sorted by
    passage_id, one single-threaded merge copies them into one segment with fixed ids and diagnostics
  * in_place  — the build it replaced (the baseline): the same workers, ``forceMerge(1)`` in place, no
    index sort; its files differ from build to build
Reports passages/s of each (median of the rounds), their ratio, and whether two builds of each wrote
the same bytes. Writes reports/bench/index_canonical.json.
Usage: python bench/index_canonical.py [--passages 20000] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sanchaek.config.search import IndexParams  # noqa: E402
from sanchaek.search.embedded import EmbeddedBackend  # noqa: E402
from sanchaek.search.meta import building_dir, index_meta, swap_into_place, write_meta  # noqa: E402


def corpus_passages(path: Path, n: int) -> list[dict]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            work = json.loads(line)
            for k, para in enumerate(p for p in work["text"].split("\n") if len(p) > 20):
                out.append({"passage_id": f"{work['id']}-{k:05d}", "doc_id": work["id"], "text": para[:600]})
                if len(out) == n:
                    return out
    return out


def index_in_place(backend: EmbeddedBackend, passages: list[dict]) -> int:
    """The previous EmbeddedBackend.index: forceMerge(1) in the build directory itself."""
    j = backend.java
    building = building_dir(backend.index_dir)
    config = j.IndexWriterConfig(backend.analyzer)
    config.setOpenMode(j.OpenMode.CREATE)
    config.setSimilarity(j.BM25Similarity())
    config.setRAMBufferSizeMB(float(backend.params.ram_buffer_mb))
    directory = j.FSDirectory.open(j.Paths.get(str((building / "lucene").resolve()), []))
    writer = j.IndexWriter(directory, config)
    n = backend._add_all(writer, iter(passages))
    writer.forceMerge(1)
    writer.commit()
    writer.close()
    directory.close()
    write_meta(building, index_meta(backend.params, backend.name, n))
    swap_into_place(building, backend.index_dir)
    return n


def digest(index_dir: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(index_dir.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(index_dir)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/data/corpus/works.jsonl")
    ap.add_argument("--passages", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "reports/bench/index_canonical.json")
    args = ap.parse_args()
    passages = corpus_passages(args.corpus, args.passages)
    params = IndexParams(backend="embedded", index_threads=args.threads)
    times: dict[str, list[float]] = {"canonical": [], "in_place": []}
    digests: dict[str, set[str]] = {"canonical": set(), "in_place": set()}
    with tempfile.TemporaryDirectory() as tmp:
        backend = EmbeddedBackend(params, Path(tmp) / "index")
        backend.analyze("워밍업")  # the JVM and Nori's dictionary load outside the timed builds
        builds = {
            "canonical": lambda: backend.index(iter(passages)),
            "in_place": lambda: index_in_place(backend, passages),
        }
        index_in_place(backend, passages[:2000])  # JIT warm-up of the shared code, untimed
        for round_ in range(args.rounds):
            # Each round alternates which build goes first: neither always meets a colder JVM.
            for name, build in sorted(builds.items(), reverse=bool(round_ % 2)):
                started = time.perf_counter()
                assert build() == len(passages)
                times[name].append(time.perf_counter() - started)
                digests[name].add(digest(Path(tmp) / "index"))
        backend.close()
    rate = {name: len(passages) / statistics.median(t) for name, t in times.items()}
    report = {
        "what": "embedded index build: canonical single-segment copy (the stage) vs in-place forceMerge(1) (before)",
        "command": f"python bench/index_canonical.py --passages {args.passages} --rounds {args.rounds} --threads {args.threads}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
        "passages": len(passages),
        "index_threads": args.threads,
        "seconds": {name: [round(t, 3) for t in ts] for name, ts in times.items()},
        "passages_per_s": {name: round(r, 1) for name, r in rate.items()},
        "canonical_vs_in_place": round(rate["canonical"] / rate["in_place"], 3),
        "same_bytes_every_build": {name: len(d) == 1 for name, d in digests.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
