"""Nori on Lucene 8.8 (the embedded index, Debian's jars) against Nori on Lucene 10 (what
Elasticsearch 9 runs), with the same ``index.analysis`` chain, token by token.

Lucene 10 comes from the one registry package here that ships it with Nori: pyserini's Anserini fatjar
(``pyserini==2.4.0`` sdist, ``pyserini/resources/jars/anserini-2.3.0-fatjar.jar``: Lucene 10.5.0; it
needs Java 21+, e.g. /usr/lib/jvm/temurin-25-jdk-amd64). A JVM runs once per process, so the Lucene 10
side runs in a child process. Each side's tokens are (term, coarse POS, start, end); detailed tags
(EF, JKS, ...) are compared in their coarse form (E, J).

    python bench/nori_versions.py --jar /tmp/anserini-2.3.0-fatjar.jar \\
        --corpus ../shared/data/corpus/works.jsonl --out reports/bench/nori_versions.json \\
        --golden tests/fixtures/nori_lucene10_golden.json

``--golden`` records the Lucene 10 tokens of the project's own sentences (tests/fixtures/
nori_golden_sentences.txt); tests/test_search_nori_versions.py checks the embedded analysis against it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sanchaek.config.search import IndexParams
from sanchaek.search.analysis import coarse_tag

CHILD = r"""
import json, sys, jpype
jar, java_home, unfiltered = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
jpype.startJVM(java_home + "/lib/server/libjvm.so", classpath=[jar], convertStrings=True)
from sanchaek.config.search import IndexParams
from sanchaek.search.analysis import lucene_chain
Version = jpype.JClass("org.apache.lucene.util.Version")
HashMap = jpype.JClass("java.util.HashMap")
stoptags = {"nori_part_of_speech": {"stoptags": []}} if unfiltered else {}
params = IndexParams.model_validate({"analysis": stoptags})
builder = jpype.JClass("org.apache.lucene.analysis.custom.CustomAnalyzer").builder()
for i, (factory, args) in enumerate(lucene_chain(params.analysis, None, "detailed")):
    m = HashMap()
    for k, v in args.items():
        m.put(k, v)
    cls = jpype.JClass(factory)
    builder = builder.withTokenizer(cls, m) if i == 0 else builder.addTokenFilter(cls, m)
analyzer = builder.build()
Term = jpype.JClass("org.apache.lucene.analysis.tokenattributes.CharTermAttribute")
Off = jpype.JClass("org.apache.lucene.analysis.tokenattributes.OffsetAttribute")
Pos = jpype.JClass("org.apache.lucene.analysis.ko.tokenattributes.PartOfSpeechAttribute")
out = {"lucene": str(Version.LATEST.toString()), "tokens": []}
for line in sys.stdin:
    text = json.loads(line)
    ts = analyzer.tokenStream("text", text)
    term, off, pos = ts.addAttribute(Term), ts.addAttribute(Off), ts.addAttribute(Pos)
    toks = []
    ts.reset()
    while ts.incrementToken():
        left = pos.getLeftPOS()
        toks.append([str(term.toString()), str(left.name()) if left is not None else "UNKNOWN",
                     int(off.startOffset()), int(off.endOffset())])
    ts.end(); ts.close()
    out["tokens"].append(toks)
print(json.dumps(out, ensure_ascii=False))
"""


def lucene10_tokens(
    texts: list[str], jar: str, java_home: str, unfiltered: bool = False
) -> tuple[str, list[list[list]]]:
    """(Lucene version, tokens per text) from a child process running the fatjar's Nori.

    ``unfiltered``: without the part-of-speech stop filter, so every tag (EF, JKS, ...) shows.
    """
    stdin = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", CHILD, jar, java_home, "1" if unfiltered else "0"], input=stdin, capture_output=True,
                          text=True, check=True, env=env)  # fmt: skip
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["lucene"], out["tokens"]


def lucene8_tokens(texts: list[str]) -> list[list[list]]:
    """The embedded backend's own analysis (Lucene 8.8 through JPype in this process)."""
    import tempfile

    from sanchaek.search.embedded import EmbeddedBackend

    backend = EmbeddedBackend(IndexParams(backend="embedded"), Path(tempfile.mkdtemp()))
    return [[[t.term, t.pos, t.start, t.end] for t in backend.analyze(text)] for text in texts]


def coarse(tokens: list[list]) -> list[tuple]:
    return [(term, coarse_tag(pos), start, end) for term, pos, start, end in tokens]


def corpus_sentences(path: Path, limit: int) -> list[str]:
    sentences: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            for s in json.loads(line)["text"].splitlines():
                if s.strip():
                    sentences.append(s.strip())
                if len(sentences) >= limit:
                    return sentences
    return sentences


def compare(a: list[list[list]], b: list[list[list]]) -> dict:
    same_texts = sum(coarse(x) == coarse(y) for x, y in zip(a, b, strict=True))
    terms_a = sum(len(x) for x in a)
    terms_b = sum(len(y) for y in b)
    same_terms = sum(len(set(coarse(x)) & set(coarse(y))) for x, y in zip(a, b, strict=True))
    return {
        "texts": len(a),
        "texts_identical": same_texts,
        "texts_identical_share": round(same_texts / max(len(a), 1), 4),
        "tokens_lucene8": terms_a,
        "tokens_lucene10": terms_b,
        "tokens_shared": same_terms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jar", required=True)
    ap.add_argument("--java-home", default="/usr/lib/jvm/temurin-25-jdk-amd64")
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--sentences", type=int, default=3000)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--golden", type=Path)
    ap.add_argument("--golden-sentences", type=Path, default=Path("tests/fixtures/nori_golden_sentences.txt"))
    args = ap.parse_args()
    report: dict = {"command": " ".join(sys.argv), "chain": "index.analysis defaults (params.yaml)"}
    if args.golden:
        texts = [s for s in args.golden_sentences.read_text(encoding="utf-8").splitlines() if s.strip()]
        version, tokens = lucene10_tokens(texts, args.jar, args.java_home)
        _, unfiltered = lucene10_tokens(texts, args.jar, args.java_home, unfiltered=True)
        golden = {"lucene": version, "source": "bench/nori_versions.py", "sentences": [
            {"text": t, "tokens": toks, "unfiltered": raw}
            for t, toks, raw in zip(texts, tokens, unfiltered, strict=True)]}  # fmt: skip
        args.golden.write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        report["golden"] = compare(lucene8_tokens(texts), tokens)
    if args.corpus:
        texts = corpus_sentences(args.corpus, args.sentences)
        t0 = time.perf_counter()
        version, ten = lucene10_tokens(texts, args.jar, args.java_home)
        t10 = time.perf_counter() - t0
        t0 = time.perf_counter()
        eight = lucene8_tokens(texts)
        t8 = time.perf_counter() - t0
        report.update(lucene10=version, lucene8="8.8.1 (Debian liblucene8-java)")
        report["corpus"] = {
            **compare(eight, ten),
            "seconds_lucene8": round(t8, 2),
            "seconds_lucene10": round(t10, 2),
        }
        diffs = [
            (t, coarse(a), coarse(b))
            for t, a, b in zip(texts, eight, ten, strict=True)
            if coarse(a) != coarse(b)
        ]
        kinds: dict[str, int] = {}
        for _, a, b in diffs:
            # tags only: the corpus's words stay out of the report
            only8 = sorted({x[1] for x in set(a) - set(b)})
            only10 = sorted({x[1] for x in set(b) - set(a)})
            key = f"{' '.join(only8) or '-'} -> {' '.join(only10) or '-'}"
            kinds[key] = kinds.get(key, 0) + 1
        report["corpus"]["differences"] = dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:25])
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
