"""Embedded backend: real Lucene 8 with the real Nori analyzer, in process through JPype.

The jars come from Debian's ``liblucene8-java`` (``/usr/share/java``) and run on the machine's JDK.
The JVM starts lazily, once per process, the first time a backend analyses, indexes or searches;
a JVM does not survive ``fork``, so a forked child that touches the backend gets a clear error.

On disk: ``<index_dir>/lucene/`` (an FSDirectory) and ``<index_dir>/meta.json`` (backend, analysis
settings, document count). A rebuild writes a sibling temp directory and renames it into place, so
a crash never leaves a half-built index where a reader would find it.
"""

from __future__ import annotations

import glob
import itertools
import json
import logging
import os
import resource
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from shutil import rmtree
from types import SimpleNamespace
from typing import Any

from ..config.search import IndexParams
from ..errors import SanchaekError
from .analysis import describe, lucene_chain
from .base import Hit, ThemeQuery, Token, stored_source
from .highlight import highlight as highlight_text
from .highlight import str_index, utf16_to_str_offsets
from .meta import REBUILD_HINT, building_dir, index_meta, read_meta, swap_into_place, write_meta

log = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install liblucene8-java openjdk-17-jre-headless (or `make setup`)"
# Lucene modules the backend loads: analysis, Nori, BM25 search, highlighting, term suggestions.
LUCENE_MODULES = (
    "core",
    "analyzers-common",
    "analyzers-nori",
    "queries",
    "memory",
    "highlighter",
    "suggest",
)
SOURCE_FIELD = "_source"
INDEX_BATCH = 64  # passages a worker takes at a time


# -- the JVM (one per process) ------------------------------------------------------------------


@dataclass
class _JvmState:
    pid: int
    java: SimpleNamespace


# The JVM is process-wide by nature: JPype can start it once and never restart it, so the loaded
# classes are kept here rather than per backend.
_JVM: _JvmState | None = None


def find_lucene_jars(jar_dir: str | Path) -> list[str]:
    """Paths of the Lucene jars this backend needs; a clear error names any that are missing."""
    jars, missing = [], []
    for module in LUCENE_MODULES:
        found = sorted(glob.glob(os.path.join(jar_dir, f"lucene-{module}-[0-9]*.jar")))
        found = found or sorted(glob.glob(os.path.join(jar_dir, f"lucene8-{module}*.jar")))
        if found:
            jars.append(found[-1])
        else:
            missing.append(f"lucene-{module}")
    if missing:
        raise SanchaekError(f"Lucene jars not found in {jar_dir} ({', '.join(missing)}): {INSTALL_HINT}")
    return jars


def main_thread_stack_option() -> str:
    """``-Xss`` as large as this process's main-thread stack limit.

    Why: a JVM created on the primordial thread (JPype starts it on Python's main thread) caps that
    thread's stack at ``-Xss`` (1 MiB by default) by placing its guard pages there, so any deeper
    native recursion later in the process (torch.compile, deeply nested data) dies with SIGSEGV inside
    whatever C function touches them. The GPU compose stage crashed so, in libtorch_cuda, once the
    JVM was up. With ``-Xss`` at the real limit the guard pages sit where the kernel's already are.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    size = soft if soft != resource.RLIM_INFINITY and soft > 0 else 8 * 2**20
    return f"-Xss{max(size, 2**20) // 1024}k"


def java_classes(params: IndexParams) -> SimpleNamespace:
    """Start the JVM (first call in this process) and return the Lucene classes the backend uses."""
    global _JVM
    if _JVM is not None:
        if _JVM.pid != os.getpid():
            raise SanchaekError(
                "the JVM was started before this process forked and does not survive a fork: "
                "open the search backend in the child process (multiprocessing 'spawn')"
            )
        return _JVM.java
    try:
        import jpype
        import jpype.imports  # noqa: F401  (enables `from org.apache... import ...`)
    except ImportError as exc:
        raise SanchaekError("the Python package JPype1 is missing: run `make setup`") from exc
    if not jpype.isJVMStarted():
        jars = find_lucene_jars(params.lucene_jar_dir)
        try:
            jvm_path = jpype.getDefaultJVMPath()
        except Exception as exc:  # JVMNotFoundException and friends
            raise SanchaekError(f"no Java runtime found ({exc}): {INSTALL_HINT}") from exc
        jpype.startJVM(
            jvm_path, f"-Xmx{params.jvm_max_heap_mb}m", main_thread_stack_option(), classpath=jars,
            convertStrings=False,
        )  # fmt: skip
    _JVM = _JvmState(pid=os.getpid(), java=_load_classes(jpype))
    return _JVM.java


def _load_classes(jpype: Any) -> SimpleNamespace:
    names = {
        "Paths": "java.nio.file.Paths",
        "HashMap": "java.util.HashMap",
        "String": "java.lang.String",
        "StandardCharsets": "java.nio.charset.StandardCharsets",
        "CustomAnalyzer": "org.apache.lucene.analysis.custom.CustomAnalyzer",
        "CharTermAttribute": "org.apache.lucene.analysis.tokenattributes.CharTermAttribute",
        "OffsetAttribute": "org.apache.lucene.analysis.tokenattributes.OffsetAttribute",
        "PartOfSpeechAttribute": "org.apache.lucene.analysis.ko.tokenattributes.PartOfSpeechAttribute",
        "PositionIncrementAttribute": "org.apache.lucene.analysis.tokenattributes.PositionIncrementAttribute",
        "PositionLengthAttribute": "org.apache.lucene.analysis.tokenattributes.PositionLengthAttribute",
        "FSDirectory": "org.apache.lucene.store.FSDirectory",
        "IndexWriter": "org.apache.lucene.index.IndexWriter",
        "IndexWriterConfig": "org.apache.lucene.index.IndexWriterConfig",
        "OpenMode": "org.apache.lucene.index.IndexWriterConfig$OpenMode",
        "DirectoryReader": "org.apache.lucene.index.DirectoryReader",
        "Term": "org.apache.lucene.index.Term",
        "Document": "org.apache.lucene.document.Document",
        "Field": "org.apache.lucene.document.Field",
        "FieldStore": "org.apache.lucene.document.Field$Store",
        "StringField": "org.apache.lucene.document.StringField",
        "TextField": "org.apache.lucene.document.TextField",
        "StoredField": "org.apache.lucene.document.StoredField",
        "SortedDocValuesField": "org.apache.lucene.document.SortedDocValuesField",
        "BytesRef": "org.apache.lucene.util.BytesRef",
        "QueryBuilder": "org.apache.lucene.util.QueryBuilder",
        "BM25Similarity": "org.apache.lucene.search.similarities.BM25Similarity",
        "IndexSearcher": "org.apache.lucene.search.IndexSearcher",
        "BooleanQuery": "org.apache.lucene.search.BooleanQuery",
        "BooleanQueryBuilder": "org.apache.lucene.search.BooleanQuery$Builder",
        "Occur": "org.apache.lucene.search.BooleanClause$Occur",
        "BoostQuery": "org.apache.lucene.search.BoostQuery",
        "Sort": "org.apache.lucene.search.Sort",
        "SortField": "org.apache.lucene.search.SortField",
        "SortFieldType": "org.apache.lucene.search.SortField$Type",
        "FieldType": "org.apache.lucene.document.FieldType",
        "IndexOptions": "org.apache.lucene.index.IndexOptions",
        "PostingsEnum": "org.apache.lucene.index.PostingsEnum",
        "ScoreMode": "org.apache.lucene.search.ScoreMode",
        "DirectSpellChecker": "org.apache.lucene.search.spell.DirectSpellChecker",
        "SuggestMode": "org.apache.lucene.search.spell.SuggestMode",
        # the canonical copy of a build (canonical_copy)
        "CodecReader": "org.apache.lucene.index.CodecReader",
        "SegmentInfos": "org.apache.lucene.index.SegmentInfos",
        "SegmentInfo": "org.apache.lucene.index.SegmentInfo",
        "IOContext": "org.apache.lucene.store.IOContext",
        "StringHelper": "org.apache.lucene.util.StringHelper",
        "BigInteger": "java.math.BigInteger",
        "Arrays": "java.util.Arrays",
    }
    classes = {key: jpype.JClass(name) for key, name in names.items()}
    return SimpleNamespace(
        **classes, JArray=jpype.JArray, JObject=jpype.JObject, synchronized=jpype.synchronized
    )


def build_analyzer(java: SimpleNamespace, params: IndexParams) -> Any:
    """A Lucene CustomAnalyzer equivalent to the Elasticsearch ``sanchaek_nori`` analyzer."""
    rules = params.analysis.nori_tokenizer.user_dictionary_rules
    with tempfile.TemporaryDirectory(prefix="sanchaek-nori-") as tmp:
        user_dict = None
        if rules:
            # The factory reads the dictionary once, while the analyzer is built.
            Path(tmp, "userdict_ko.txt").write_text("\n".join(rules) + "\n", encoding="utf-8")
            user_dict = "userdict_ko.txt"
        builder = java.CustomAnalyzer.builder(java.Paths.get(tmp, []))
        for i, (factory, args) in enumerate(lucene_chain(params.analysis, user_dict)):
            jargs = java.HashMap()
            for key, value in args.items():
                jargs.put(key, value)
            cls = _factory_class(factory)
            builder = builder.withTokenizer(cls, jargs) if i == 0 else builder.addTokenFilter(cls, jargs)
        try:
            return builder.build()
        except Exception as exc:  # a bad user dictionary rule surfaces here
            raise SanchaekError(f"index.analysis is not accepted by Lucene Nori: {exc}") from exc


def _factory_class(name: str) -> Any:
    import jpype

    return jpype.JClass(name)


def _to_str_offsets(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    mapping = utf16_to_str_offsets(text)
    return spans if mapping is None else [(mapping[s], mapping[e]) for s, e in spans]


def text_field_type(java: SimpleNamespace) -> Any:
    """Tokenized, with offsets in the postings so that highlighting needs no re-analysis."""
    field_type = java.FieldType(java.TextField.TYPE_NOT_STORED)
    field_type.setIndexOptions(java.IndexOptions.DOCS_AND_FREQS_AND_POSITIONS_AND_OFFSETS)
    field_type.freeze()
    return field_type


def java_strings(java: SimpleNamespace, values: list[str]) -> list[Any]:
    """``values`` as Java Strings, all crossing into the JVM in one UTF-16 byte array.

    Why: JPype converts a Python str to a Java String character by character while holding the GIL
    (about 25 µs for a 600-character Hangul passage, twice per passage with its _source); a byte array
    is copied in one piece and the JVM decodes and cuts it at memory speed, so the other indexing
    thread is not kept waiting for the GIL on its way back from Nori.
    """
    import jpype

    # strict: a lone surrogate fails here as it did in JPype's own conversion (it is no Java text)
    encoded = [v.encode("utf-16-le") for v in values]
    blob = java.String(jpype.JArray(jpype.JByte)(b"".join(encoded)), java.StandardCharsets.UTF_16LE)
    strings, start = [], 0
    for e in encoded:
        end = start + len(e) // 2  # UTF-16 code units, as Java indexes a String
        strings.append(blob.substring(start, end))
        start = end
    return strings


# The first segment id of every build (Lucene draws ids from a process-wide counter seeded at random).
CANONICAL_ID_SEED = 0x53414E4348414558  # "SANCHAEX"


def canonical_copy(j: SimpleNamespace, scratch: Any, target: Path, config: Any) -> None:
    """Merge every segment of ``scratch`` into one segment in a new ``target`` directory, byte-stable.

    What would otherwise differ between two builds of the same passages: the document order (the
    index sort on passage_id fixes it), the segment ids (the id counter is set to a fixed value just
    before this single-threaded merge, so ids never depend on how many scratch segments threads
    flushed) and the segment's diagnostics (build time, OS and JVM versions: rewritten to the Lucene
    version and the source only).
    """
    target_dir = j.FSDirectory.open(j.Paths.get(str(target.resolve()), []))
    reader = j.DirectoryReader.open(scratch)
    try:
        # Segment readers are codec readers: handed over as they are, the merge can bulk-copy them.
        leaves = [j.JObject(leaf.reader(), j.CodecReader) for leaf in reader.leaves()]
        _reset_segment_ids(j)
        writer = j.IndexWriter(target_dir, config)
        try:
            writer.addIndexes(j.JArray(j.CodecReader)(leaves))
            writer.commit()
        finally:
            writer.close()
        _canonical_diagnostics(j, target_dir)
    finally:
        reader.close()
        target_dir.close()


def _reset_segment_ids(j: SimpleNamespace) -> None:
    # StringHelper.nextId is private: Lucene 8 seeds it from the `tests.seed` system property only
    # at class load, which is too early and process-wide for a per-build reset.
    field = j.StringHelper.class_.getDeclaredField("nextId")
    field.setAccessible(True)
    lock = j.StringHelper.class_.getDeclaredField("idLock")
    lock.setAccessible(True)
    with j.synchronized(lock.get(None)):
        field.set(None, j.BigInteger.valueOf(CANONICAL_ID_SEED))


def _canonical_diagnostics(j: SimpleNamespace, directory: Any) -> None:
    """Rewrite the single segment's .si file without the build's timestamp, OS and JVM."""
    infos = j.SegmentInfos.readLatestCommit(directory)
    info = infos.info(0).info
    diagnostics = j.HashMap()
    for key in ("source", "lucene.version"):
        if info.getDiagnostics().containsKey(key):
            diagnostics.put(key, info.getDiagnostics().get(key))
    stable = j.SegmentInfo(
        directory, info.getVersion(), info.getMinVersion(), info.name, info.maxDoc(), info.getUseCompoundFile(),
        info.getCodec(), diagnostics, info.getId(), info.getAttributes(), info.getIndexSort(),
    )  # fmt: skip
    stable.setFiles(info.files())
    directory.deleteFile(f"{info.name}.si")
    info.getCodec().segmentInfoFormat().write(directory, stable, j.IOContext.DEFAULT)
    directory.sync(j.Arrays.asList([f"{info.name}.si"]))


def analyze_with(java: SimpleNamespace, analyzer: Any, text: str, field: str = "text") -> list[Token]:
    stream = analyzer.tokenStream(field, text)
    term = stream.addAttribute(java.CharTermAttribute)
    offset = stream.addAttribute(java.OffsetAttribute)
    pos = stream.addAttribute(java.PartOfSpeechAttribute)
    increment = stream.addAttribute(java.PositionIncrementAttribute)
    length = stream.addAttribute(java.PositionLengthAttribute)
    tokens = []
    mapping = utf16_to_str_offsets(text)
    position = -1
    try:
        stream.reset()
        while stream.incrementToken():
            left = pos.getLeftPOS()
            position += int(increment.getPositionIncrement())  # a stopped token leaves a gap
            tokens.append(
                Token(
                    term=str(term.toString()),
                    pos=str(left.name()) if left is not None else "UNKNOWN",
                    start=str_index(mapping, int(offset.startOffset())),
                    end=str_index(mapping, int(offset.endOffset())),
                    position=position,
                    position_length=int(length.getPositionLength()),
                )
            )
        stream.end()
    finally:
        stream.close()
    return tokens


# -- the backend --------------------------------------------------------------------------------


class EmbeddedBackend:
    """``SearchBackend`` over an on-disk Lucene index under ``index_dir``."""

    name = "embedded"

    def __init__(self, params: IndexParams, index_dir: str | Path):
        self.params = params
        # Absolute: the JVM resolves relative paths against its own start directory, not os.getcwd().
        self.index_dir = Path(index_dir).absolute()
        self._java: SimpleNamespace | None = None
        self._analyzer: Any = None
        self._reader: Any = None
        self._directory: Any = None
        self._searcher: Any = None
        self.rejected: list[dict] = []  # Lucene rejects nothing the input validation let through

    # lazily started pieces
    @property
    def java(self) -> SimpleNamespace:
        if self._java is None:
            self._java = java_classes(self.params)
        return self._java

    @property
    def analyzer(self) -> Any:
        if self._analyzer is None:
            self._analyzer = build_analyzer(self.java, self.params)
        return self._analyzer

    def describe(self) -> str:
        return f"embedded Lucene + {describe(self.params.analysis)}"

    # analysis
    def analyze(self, text: str) -> list[Token]:
        return analyze_with(self.java, self.analyzer, text)

    # indexing
    def _writer_config(self) -> Any:
        j = self.java
        config = j.IndexWriterConfig(self.analyzer)
        config.setOpenMode(j.OpenMode.CREATE)
        config.setSimilarity(j.BM25Similarity())
        config.setRAMBufferSizeMB(float(self.params.ram_buffer_mb))
        # Documents in passage_id order in every segment, whichever worker thread added them.
        config.setIndexSort(j.Sort([j.SortField("passage_id", j.SortFieldType.STRING)]))
        return config

    def index(self, passages: Iterable[dict]) -> int:
        """Build a fresh index in a temp directory, then rename it over ``index_dir``.

        ``index_threads`` workers analyse and add passages into scratch segments (their number and
        names depend on thread timing); one final merge copies them into ``lucene/`` as a single
        segment whose files are the same bytes for the same passages and params (canonical_copy).
        """
        j = self.java
        building = building_dir(self.index_dir)
        directory = j.FSDirectory.open(j.Paths.get(str((building / "scratch").resolve()), []))
        writer = j.IndexWriter(directory, self._writer_config())
        try:
            n = self._add_all(writer, passages)
            writer.forceMerge(1)  # Lucene's own merge (bulk copies), sorted: the copy below is then cheap
            writer.commit()
            writer.close()
            canonical_copy(j, directory, building / "lucene", self._writer_config())
        except BaseException:
            if writer.isOpen():
                writer.rollback()
            directory.close()
            rmtree(building, ignore_errors=True)
            raise
        directory.close()
        rmtree(building / "scratch")
        write_meta(building, index_meta(self.params, self.name, n))
        self._close_reader()
        swap_into_place(building, self.index_dir)
        return n

    def _add_all(self, writer: Any, passages: Iterable[dict]) -> int:
        """Feed passages to ``index_threads`` workers; Nori's analysis runs in the JVM without the GIL."""
        source = iter(passages)
        lock = threading.Lock()
        counts: list[int] = []
        errors: list[BaseException] = []

        def next_batch() -> list[dict]:
            with lock:
                if errors:
                    return []
                return list(itertools.islice(source, INDEX_BATCH))

        def worker() -> None:
            try:
                counts.append(self._add_batches(writer, next_batch))
                # Each finishing worker writes one in-RAM segment to disk, in parallel with the
                # others, instead of leaving them all to forceMerge's single-threaded flush.
                writer.flushNextBuffer()
            except BaseException as exc:  # re-raised in the calling thread
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.params.index_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return sum(counts)

    def _add_batches(self, writer: Any, next_batch: Callable[[], list[dict]]) -> int:
        j = self.java
        # One Document with reusable Field objects per thread: far fewer JVM round trips per passage.
        doc = j.Document()
        f_pid = j.StringField("passage_id", "", j.FieldStore.NO)
        f_pid_sort = j.SortedDocValuesField("passage_id", j.BytesRef(""))
        f_doc = j.StringField("doc_id", "", j.FieldStore.NO)
        f_text = j.Field("text", "", text_field_type(j))
        # Every stored value in one JSON field, like Elasticsearch's _source: one fetch per hit.
        f_source = j.StoredField(SOURCE_FIELD, "")
        for field in (f_pid, f_pid_sort, f_doc, f_text, f_source):
            doc.add(field)
        n = 0
        while batch := next_batch():
            sources = [stored_source(p) for p in batch]
            # the long strings (text, _source) of the whole batch cross into the JVM at once
            long_values = java_strings(
                j, [v for s in sources for v in (s["text"], json.dumps(s, ensure_ascii=False))]
            )
            for source, text, stored in zip(sources, long_values[::2], long_values[1::2], strict=True):
                f_pid.setStringValue(source["passage_id"])
                f_pid_sort.setBytesValue(j.BytesRef(source["passage_id"]))
                f_doc.setStringValue(source["doc_id"])
                f_text.setStringValue(text)
                f_source.setStringValue(stored)
                writer.addDocument(doc)
                n += 1
        return n

    # searching
    def _open(self) -> Any:
        if self._searcher is not None:
            return self._searcher
        read_meta(self.index_dir, self.params, self.name)
        lucene_dir = self.index_dir / "lucene"
        if not lucene_dir.is_dir():
            raise SanchaekError(f"{self.index_dir} has no lucene/ folder: {REBUILD_HINT}")
        j = self.java
        self._directory = j.FSDirectory.open(j.Paths.get(str(lucene_dir.resolve()), []))
        self._reader = j.DirectoryReader.open(self._directory)
        self._searcher = j.IndexSearcher(self._reader)
        self._searcher.setSimilarity(j.BM25Similarity())
        return self._searcher

    def count(self) -> int:
        return int(self._open().getIndexReader().numDocs())

    def build_query(self, query: str | ThemeQuery) -> Any:
        """The Lucene query Elasticsearch would build for the same ``match``/``match_phrase`` request."""
        j = self.java
        theme = ThemeQuery(query) if isinstance(query, str) else query
        builder = j.QueryBuilder(self.analyzer)
        if theme.clauses:
            return self._clauses_query(builder, theme)
        alternatives = []
        for alt in theme.alternatives:
            if theme.match == "phrase":
                q = builder.createPhraseQuery("text", alt)
            else:
                occur = j.Occur.MUST if theme.match == "all" else j.Occur.SHOULD
                q = builder.createBooleanQuery("text", alt, occur)
            if q is not None:  # None: every token was a stop tag
                alternatives.append(q)
        if not alternatives:
            return None
        if len(alternatives) == 1:
            combined = alternatives[0]
        else:
            bq = j.BooleanQueryBuilder()
            for q in alternatives:
                bq.add(q, j.Occur.SHOULD)
            combined = bq.build()
        return combined if theme.weight == 1.0 else j.BoostQuery(combined, float(theme.weight))

    def _clauses_query(self, builder: Any, theme: ThemeQuery) -> Any:
        """The OR of ``theme.clauses`` (``search.plan``): what ``elastic_query.clauses_query`` asks ES for."""
        j = self.java
        bq = j.BooleanQueryBuilder()
        n = 0
        for clause in theme.clauses:
            if clause.kind == "phrase":
                q = builder.createPhraseQuery("text", clause.text, int(clause.slop))
            else:
                occur = j.Occur.MUST if clause.kind == "all" else j.Occur.SHOULD
                q = builder.createBooleanQuery("text", clause.text, occur)
            if q is not None:
                bq.add(q if clause.boost == 1.0 else j.BoostQuery(q, float(clause.boost)), j.Occur.SHOULD)
                n += 1
        if n == 0:
            return None
        combined = bq.build()
        return combined if theme.weight == 1.0 else j.BoostQuery(combined, float(theme.weight))

    def search(self, query: str | ThemeQuery, k: int) -> list[Hit]:
        searcher = self._open()
        lucene_query = self.build_query(query)
        if lucene_query is None or k <= 0:
            return []
        j = self.java
        # Score first, passage_id second: ties rank the same on every run and on every backend.
        sort = j.Sort([j.SortField.FIELD_SCORE, j.SortField("passage_id", j.SortFieldType.STRING)])
        top = searcher.search(lucene_query, int(k), sort, True)
        score_docs = list(top.scoreDocs)
        docs = [int(sd.doc) for sd in score_docs]
        if isinstance(query, ThemeQuery) and query.clauses:
            # planned clauses (phrases among them): Lucene's own matches, so a phrase's words are
            # highlighted only where the phrase matched (목 of 목숨을 잃다 not in 손목)
            spans = self._query_matches(searcher, lucene_query, docs)
        else:
            spans = self._match_spans(searcher, self._query_terms(query), docs)
        hits = []
        for sd in score_docs:
            src = json.loads(str(searcher.doc(sd.doc).get(SOURCE_FIELD)))
            highlight = highlight_text(
                src["text"],
                _to_str_offsets(src["text"], spans.get(int(sd.doc), [])),
                self.params.highlight_fragment_chars,
                self.params.highlight_fragments,
            )
            hits.append(
                Hit(
                    passage_id=src["passage_id"],
                    doc_id=src["doc_id"],
                    score=float(sd.score),
                    text=src["text"],
                    highlight=highlight,
                    source=src["source"],
                    genre=src["genre"],
                    title=src["title"],
                )
            )
        return hits

    def _query_terms(self, query: str | ThemeQuery) -> list[str]:
        theme = ThemeQuery(query) if isinstance(query, str) else query
        texts = [c.text for c in theme.clauses] if theme.clauses else theme.alternatives
        return sorted({t.term for alt in texts for t in self.analyze(alt)})

    def _query_matches(
        self, searcher: Any, lucene_query: Any, docs: list[int]
    ) -> dict[int, list[tuple[int, int]]]:
        """Character offsets (UTF-16) of what ``lucene_query`` matched in each of ``docs`` (Weight.matches)."""
        j = self.java
        weight = searcher.createWeight(searcher.rewrite(lucene_query), j.ScoreMode.COMPLETE_NO_SCORES, 1.0)
        leaves = list(searcher.getIndexReader().leaves())
        spans: dict[int, list[tuple[int, int]]] = {}
        for doc in docs:
            leaf = next(
                lf for lf in leaves if int(lf.docBase) <= doc < int(lf.docBase) + int(lf.reader().maxDoc())
            )
            matches = weight.matches(leaf, doc - int(leaf.docBase))
            it = matches.getMatches("text") if matches is not None else None
            found = spans.setdefault(doc, [])
            while it is not None and it.next():
                start, end = int(it.startOffset()), int(it.endOffset())
                if start >= 0 and end > start:
                    found.append((start, end))
        return spans

    def _match_spans(
        self, searcher: Any, terms: list[str], docs: list[int]
    ) -> dict[int, list[tuple[int, int]]]:
        """Character offsets of ``terms`` in each of ``docs``, read from the postings (no re-analysis)."""
        j = self.java
        spans: dict[int, list[tuple[int, int]]] = {}
        for leaf in searcher.getIndexReader().leaves():
            base, max_doc = int(leaf.docBase), int(leaf.reader().maxDoc())
            local = sorted(d - base for d in docs if base <= d < base + max_doc)
            field_terms = leaf.reader().terms("text") if local else None
            if field_terms is None:
                continue
            for term in terms:
                terms_enum = field_terms.iterator()
                if not terms_enum.seekExact(j.BytesRef(term)):
                    continue
                postings = terms_enum.postings(None, j.PostingsEnum.OFFSETS)
                for d in local:  # ascending, as postings advance
                    current = int(postings.docID())
                    if current < d:  # advance() only moves forward, to the first doc >= d
                        current = int(postings.advance(d))
                    if current != d:
                        continue
                    found = spans.setdefault(base + d, [])
                    for _ in range(int(postings.freq())):
                        postings.nextPosition()
                        found.append((int(postings.startOffset()), int(postings.endOffset())))
        return spans

    def nearest_terms(self, term: str, n: int) -> list[str]:
        """Lucene's DirectSpellChecker (what Elasticsearch's term suggester runs), tuned for short Korean terms."""
        searcher = self._open()
        if n <= 0 or not term:
            return []
        j = self.java
        checker = j.DirectSpellChecker()
        checker.setMinQueryLength(1)
        checker.setMinPrefix(1)
        checker.setMaxEdits(2)
        checker.setAccuracy(0.0)
        checker.setMaxQueryFrequency(float(2**31))
        words = checker.suggestSimilar(
            j.Term("text", term), int(n), searcher.getIndexReader(), j.SuggestMode.SUGGEST_ALWAYS
        )
        return [str(w.string) for w in words]

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._directory.close()
        self._reader = self._directory = self._searcher = None

    def close(self) -> None:
        self._close_reader()
