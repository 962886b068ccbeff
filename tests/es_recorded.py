"""A recording Elasticsearch for the backend's contract tests: elastic_transport's node interface,
answered by a small in-memory cluster with the response bodies the Elasticsearch docs show.

``RecordingNode`` replaces the HTTP connection (``node_class``); the elasticsearch-py client above it
runs unchanged (serialisation, product check, error classes, ``options``), so the tests see the exact
requests it would send to a real cluster. Response shapes follow the 8.x and 9.x REST API docs:
``GET /`` (info), ``PUT /<index>`` (create index), ``_bulk`` items, ``_search`` hits, ``_aliases``,
``_pit``, ``_analyze`` with ``explain``, and the ``{"error": {...}, "status": N}`` error body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elastic_transport._node._base import NodeApiResponse  # the return type of BaseNode.perform_request

# GET / of the docs' examples, per major version (numbers of released servers).
INFO = {
    8: {
        "name": "instance-0000000000",
        "cluster_name": "my_cluster",
        "cluster_uuid": "5QaxoN0pRZuOmWSxstBBwQ",
        "version": {
            "number": "8.17.0",
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "2b6a7fed44faa321997703718f07ee0420804b41",
            "build_date": "2024-12-11T12:08:05.663969764Z",
            "build_snapshot": False,
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    },
    9: {
        "name": "instance-0000000000",
        "cluster_name": "my_cluster",
        "cluster_uuid": "5QaxoN0pRZuOmWSxstBBwQ",
        "version": {
            "number": "9.0.0",
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "112859b85d50de2a7e63f73c8fc70b99eea24291",
            "build_date": "2025-04-08T15:13:46.049795831Z",
            "build_snapshot": False,
            "lucene_version": "10.1.0",
            "minimum_wire_compatibility_version": "8.18.0",
            "minimum_index_compatibility_version": "8.0.0",
        },
        "tagline": "You Know, for Search",
    },
}


def error_body(status: int, kind: str, reason: str, caused_by: dict | None = None) -> dict:
    """Elasticsearch's error body: ``root_cause`` list, ``type``, ``reason`` (and ``caused_by``), status."""
    error: dict = {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}
    if caused_by:
        error["caused_by"] = caused_by
    return {"error": error, "status": status}


def media_type_error(cause: str) -> dict:
    """What 8.x and 9.x servers answer a request whose Accept/Content-Type they refuse (as reported
    in elastic/elasticsearch-py#2927 and elastic/elasticsearch-ruby#2665)."""
    return error_body(
        400,
        "media_type_header_exception",
        "Invalid media-type value on headers [Accept, Content-Type]",
        {"type": "status_exception", "reason": cause},
    )


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: object  # parsed JSON, a list for NDJSON, None


@dataclass
class Index:
    settings: dict
    mappings: dict
    docs: dict[str, dict] = field(default_factory=dict)
    aliases: set[str] = field(default_factory=set)


# A fault: (predicate on the request, what to do: a (status, body) answer or an exception to raise)
Fault = tuple[Callable[[Request], bool], object]


class FakeCluster:
    """Answers requests like an Elasticsearch ``major`` server with analysis-nori (or without it)."""

    def __init__(self, major: int, *, nori: bool = True, info: dict | None = None):
        self.major = major
        self.nori = nori
        self.info = info or INFO[major]
        self.requests: list[Request] = []
        self.indices: dict[str, Index] = {}
        self.faults: list[Fault] = []
        self.window = 10_000
        self.tokens: list[dict] = []  # what _analyze answers (explain: tokenfilters' last stage)
        self.pits = 0

    # fault injection: each fault answers one matching request, then is gone
    def fail(self, when: Callable[[Request], bool], then: object) -> None:
        self.faults.append((when, then))

    def of(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def handle(
        self, method: str, target: str, headers: HttpHeaders, body: bytes | None
    ) -> tuple[int, object]:
        parts = urlsplit(target)
        req = Request(method, parts.path, dict(parse_qsl(parts.query)), {k.lower(): v for k, v in headers.items()},
                      _parse(body))  # fmt: skip
        self.requests.append(req)
        for i, (when, then) in enumerate(self.faults):
            if when(req):
                del self.faults[i]
                if isinstance(then, BaseException):
                    raise then
                return then  # type: ignore[return-value]
        accept, content = req.headers.get("accept", ""), req.headers.get("content-type", "")
        if self.major == 8 and "compatible-with=9" in accept:
            return 400, media_type_error(
                f"Accept version must be either version 8 or 7, but found 9. Accept={accept}"
            )
        if body and ("compatible-with" in accept) != ("compatible-with" in content):
            return 400, media_type_error(
                "A compatible version is required on both Content-Type and Accept headers if either one has "
                f"requested a compatible version. Accept={accept}, Content-Type={content}"
            )
        return self.route(req)

    def route(self, req: Request) -> tuple[int, object]:
        m, p = req.method, req.path
        if p == "/" and m == "GET":
            return 200, self.info
        if p == "/_bulk":
            return 200, self.bulk(req.body)  # type: ignore[arg-type]
        if p == "/_aliases":
            return self.update_aliases(req.body["actions"])  # type: ignore[index]
        if p == "/_analyze":
            return self.analyze(req.body)  # type: ignore[arg-type]
        if p == "/_pit" and m == "DELETE":
            return 200, {"succeeded": True, "num_freed": 1}
        if p == "/_search":  # over a point in time
            return 200, self.search(self.alias_targets("sanchaek-passages"), req.body)  # type: ignore[arg-type]
        if match := re.fullmatch(r"/_alias/([^/]+)", p):
            targets = self.alias_targets(match[1])
            if m == "HEAD":
                return (200 if targets else 404), {}
            if not targets:
                return 404, {"error": f"alias [{match[1]}] missing", "status": 404}
            return 200, {t: {"aliases": {match[1]: {}}} for t in targets}
        name, _, rest = p[1:].partition("/")
        if rest == "":
            return self.on_index(m, name, req)
        if rest == "_alias":
            found = {
                n: {"aliases": {a: {} for a in i.aliases}} for n, i in self.indices.items() if _glob(name, n)
            }
            return 200, found
        targets = self.resolve(name)
        if not targets:
            return 404, error_body(404, "index_not_found_exception", f"no such index [{name}]")
        if rest == "_settings" and m == "PUT":
            return 200, {"acknowledged": True}
        if rest.startswith("_settings"):
            return 200, {
                t: {"settings": {}, "defaults": {"index.max_result_window": str(self.window)}}
                for t in targets
            }
        if rest == "_refresh":
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if rest == "_count":
            return 200, {"count": sum(len(self.indices[t].docs) for t in targets), "_shards": {"total": 1}}
        if rest == "_pit":
            self.pits += 1
            return 200, {"id": f"pit-{self.pits}", "_shards": {"total": 1, "successful": 1}}
        if rest == "_search":
            return 200, self.search(targets, req.body)  # type: ignore[arg-type]
        return 404, error_body(404, "illegal_state_exception", f"no route for {m} {p}")

    def on_index(self, method: str, name: str, req: Request) -> tuple[int, object]:
        if method == "HEAD":
            return (200 if name in self.indices else 404), {}
        if method == "DELETE":
            self.indices.pop(name, None)
            return 200, {"acknowledged": True}
        if method == "PUT":
            if name in self.indices:
                return 400, error_body(
                    400, "resource_already_exists_exception", f"index [{name}/Xo2bM5kWQ2e3] already exists"
                )
            problem = self.analysis_problem(req.body["settings"])  # type: ignore[index]
            if problem:
                return 400, error_body(400, "illegal_argument_exception", problem)
            self.indices[name] = Index(req.body["settings"], req.body["mappings"])  # type: ignore[index]
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
        return 404, error_body(404, "illegal_state_exception", f"no route for {method} /{name}")

    def analysis_problem(self, settings: dict) -> str | None:
        if not self.nori:
            return "Unknown tokenizer type [nori_tokenizer] for [sanchaek_nori_tokenizer]"
        known = LUCENE10_TAGS if self.major >= 9 else LUCENE9_TAGS
        for spec in settings.get("analysis", {}).get("filter", {}).values():
            for tag in spec.get("stoptags", []):
                if tag not in known:
                    return f"No enum constant org.apache.lucene.analysis.ko.POS.Tag.{tag}"
        return None

    def resolve(self, name: str) -> list[str]:
        if name in self.indices:
            return [name]
        return self.alias_targets(name)

    def alias_targets(self, alias: str) -> list[str]:
        return sorted(n for n, i in self.indices.items() if alias in i.aliases)

    def bulk(self, lines: list[dict]) -> dict:
        items = []
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            meta = action["index"]
            index = self.indices.get(meta["_index"])
            if index is None:
                items.append({"index": {"_index": meta["_index"], "_id": meta["_id"], "status": 404,
                                        "error": {"type": "index_not_found_exception", "reason": "no such index"}}})  # fmt: skip
                continue
            created = meta["_id"] not in index.docs
            index.docs[meta["_id"]] = source
            items.append({"index": {"_index": meta["_index"], "_id": meta["_id"], "_version": 1,
                                    "result": "created" if created else "updated", "_seq_no": 0, "_primary_term": 1,
                                    "status": 201 if created else 200}})  # fmt: skip
        return {"took": 3, "errors": any(i["index"]["status"] >= 300 for i in items), "items": items}

    def update_aliases(self, actions: list[dict]) -> tuple[int, object]:
        for action in actions:
            ((kind, spec),) = action.items()
            index = self.indices.get(spec["index"])
            if index is None:
                return 404, error_body(404, "index_not_found_exception", f"no such index [{spec['index']}]")
            (index.aliases.add if kind == "add" else index.aliases.discard)(spec["alias"])
        return 200, {"acknowledged": True}

    def analyze(self, body: dict) -> tuple[int, object]:
        if not self.nori:
            return 400, error_body(
                400, "illegal_argument_exception", "failed to find global tokenizer under [nori_tokenizer]"
            )
        problem = self.analysis_problem(
            {
                "analysis": {
                    "filter": {f"f{i}": f for i, f in enumerate(body["filter"]) if isinstance(f, dict)}
                }
            }
        )
        if problem:
            return 400, error_body(400, "illegal_argument_exception", problem)
        return 200, {"detail": {"custom_analyzer": True, "tokenizer": {"name": "nori_tokenizer", "tokens": []},
                                "tokenfilters": [{"name": "lowercase", "tokens": self.tokens}]}}  # fmt: skip

    def search(self, targets: list[str], body: dict) -> dict:
        docs = sorted(
            (d for t in targets for d in self.indices[t].docs.values()), key=lambda d: d["passage_id"]
        )
        after = body.get("search_after")
        if after:
            docs = [d for d in docs if d["passage_id"] > after[1]]
        page = docs[: body.get("size", 10)]
        hits = [{"_index": targets[0], "_id": d["passage_id"], "_score": 2.2, "_source": d,
                 "sort": [2.2, d["passage_id"], i], "highlight": {"text": [d["text"][:20]]}} for i, d in enumerate(page)]  # fmt: skip
        out: dict = {"took": 1, "timed_out": False, "hits": {"total": {"value": len(docs), "relation": "eq"},
                                                              "max_score": 2.2, "hits": hits}}  # fmt: skip
        if "pit" in body:
            out["pit_id"] = body["pit"]["id"]
        return out


LUCENE9_TAGS = set(
    "E IC J MAG MAJ MM NNG NNP NNB NNBC NP NR SF SH SL SN SP SSC SSO SC SY SE VA VCN VCP VV VX XPN XR XSA XSN XSV "
    "UNKNOWN UNA NA VSV".split()
)
LUCENE10_TAGS = (LUCENE9_TAGS - {"E", "J"}) | set(
    "EP EF EC ETN ETM JKS JKC JKG JKO JKB JKV JKQ JX JC".split()
)


def _glob(pattern: str, name: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), name) is not None


def _parse(body: bytes | None) -> object:
    if not body:
        return None
    text = body.decode("utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def recording_node(cluster: FakeCluster) -> type:
    """An elastic_transport node class whose every request goes to ``cluster``."""

    class RecordingNode(BaseNode):
        def perform_request(self, method, target, body=None, headers=None, request_timeout=None):  # type: ignore[no-untyped-def]
            merged = self.headers.copy()
            if headers:
                merged.update(headers)
            status, answer = cluster.handle(method, target, merged, body)
            meta = ApiResponseMeta(
                status=status,
                http_version="1.1",
                headers=HttpHeaders(
                    {"x-elastic-product": "Elasticsearch", "content-type": "application/json"}
                ),
                duration=0.0,
                node=self.config,
            )
            return NodeApiResponse(meta, json.dumps(answer).encode("utf-8") if method != "HEAD" else b"")

    return RecordingNode
