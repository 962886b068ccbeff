"""What the Elasticsearch backend needs from the wire: client options (credentials and TLS from the
environment), the server's version, the REST compatibility headers that version accepts, retry
delays, and one-line errors that carry the server's own reason.

Why a node class: elasticsearch-py 9 sends ``compatible-with=9`` on every request, which Elasticsearch 8
refuses (``media_type_header_exception``). The node rewrites those headers: plain JSON until the
server's version is known (every version accepts it), then ``compatible-with=<server major>``.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config.search import IndexParams
from ..errors import SanchaekError
from .analysis import TagSet, tagset_of

log = logging.getLogger(__name__)

SUPPORTED_MAJORS = (8, 9)
SUPPORTED = "Elasticsearch 8.x (Lucene 9) and 9.x (Lucene 10)"
NORI_HINT = "install the plugin on every node: bin/elasticsearch-plugin install analysis-nori, then restart"
RETRY_STATUSES = (429, 502, 503, 504)  # overload and gateway errors: worth another try, after a pause

_COMPAT = re.compile(r"application/vnd\.elasticsearch\+([a-z-]+); ?compatible-with=\d+")


@dataclass(frozen=True)
class ServerInfo:
    """What ``GET /`` says about the server."""

    version: str
    lucene_version: str
    flavor: str = "default"

    @property
    def major(self) -> int:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0

    @property
    def tagset(self) -> TagSet:
        return tagset_of(self.lucene_version)

    def describe(self) -> str:
        return f"Elasticsearch {self.version} (Lucene {self.lucene_version})"


def server_info(body: Any) -> ServerInfo:
    version = body.get("version", {}) if isinstance(body, dict) else {}
    return ServerInfo(
        version=str(version.get("number", "unknown")),
        lucene_version=str(version.get("lucene_version", "unknown")),
        flavor=str(version.get("build_flavor", "default")),
    )


def check_supported(info: ServerInfo, where: str) -> None:
    if info.flavor == "serverless":
        raise SanchaekError(
            f"{where} is Elasticsearch Serverless, which has no analysis-nori plugin: use a {SUPPORTED} cluster"
        )
    if info.major not in SUPPORTED_MAJORS:
        raise SanchaekError(
            f"{where} runs {info.describe()}; sanchaek supports {SUPPORTED}: upgrade the cluster, or set "
            "index.backend: embedded"
        )


def compat_headers(headers: Any, major: int | None) -> Any:
    """``headers`` with every compatibility mimetype set for ``major`` (None: plain JSON)."""
    out = headers.copy()
    for name in ("accept", "content-type"):
        value = out.get(name)
        if value:
            out[name] = _COMPAT.sub(
                (lambda m: f"application/{m.group(1)}")
                if major is None
                else (lambda m: f"application/vnd.elasticsearch+{m.group(1)}; compatible-with={major}"),
                value,
            )
    return out


def compat_node_class(base: type) -> type:
    """A subclass of the transport node ``base`` that sends the headers the server's major accepts.

    A fresh class per client: ``compat_major`` is set once the server's version is known.
    """

    class CompatHeadersNode(base):  # type: ignore[misc, valid-type]
        compat_major: int | None = None

        def perform_request(self, method, target, body=None, headers=None, **kwargs):  # type: ignore[no-untyped-def]
            if headers is not None:
                headers = compat_headers(headers, type(self).compat_major)
            return super().perform_request(method, target, body=body, headers=headers, **kwargs)

    return CompatHeadersNode


def redact(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def client_options(url: str, params: IndexParams, env: Mapping[str, str]) -> dict:
    """Keyword arguments for ``Elasticsearch(...)``; credentials and TLS only from ``env``."""
    options: dict[str, Any] = {
        "hosts": [url],
        "request_timeout": params.elasticsearch_timeout_s,
        # For idempotent requests; index creation and bulk requests turn these off (see the backend).
        "max_retries": params.elasticsearch_max_retries,
        "retry_on_timeout": True,
        "retry_on_status": RETRY_STATUSES,
        "retry_backoff_base": params.elasticsearch_backoff_s,  # the transport's backoff has jitter
        "retry_backoff_cap": params.elasticsearch_backoff_max_s,
    }
    if env.get("ELASTICSEARCH_API_KEY"):
        options["api_key"] = env["ELASTICSEARCH_API_KEY"]
    elif env.get("ELASTICSEARCH_USERNAME"):
        options["basic_auth"] = (env["ELASTICSEARCH_USERNAME"], env.get("ELASTICSEARCH_PASSWORD", ""))
    if env.get("ELASTICSEARCH_CA_CERTS"):
        options["ca_certs"] = env["ELASTICSEARCH_CA_CERTS"]
    verify = env.get("ELASTICSEARCH_VERIFY_CERTS")
    if verify is not None and verify != "":
        if verify.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise SanchaekError(f"ELASTICSEARCH_VERIFY_CERTS={verify!r} is not a boolean: use true or false")
        options["verify_certs"] = verify.lower() in ("1", "true", "yes")
    return options


def backoff_s(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
    return rng.uniform(0.0, min(cap, base * 2.0**attempt))


# -- errors -------------------------------------------------------------------------------------


def error_parts(exc: Any) -> tuple[int | None, str, str]:
    """(HTTP status, error type, reason) of an ``ApiError``; the reason holds the cause's too."""
    status = getattr(getattr(exc, "meta", None), "status", None)
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        kind = str(error.get("type", "error"))
        reasons = [str(error.get("reason") or "")]
        cause = error.get("caused_by")
        while isinstance(cause, dict) and len(reasons) < 4:
            reasons.append(f"{cause.get('type', 'cause')}: {cause.get('reason') or ''}")
            cause = cause.get("caused_by")
        return status, kind, "; ".join(r for r in reasons if r)[:500]
    text = str(error if error is not None else body if body is not None else getattr(exc, "message", exc))
    return status, str(getattr(exc, "message", "error")), text[:500]


def api_error(exc: Any, where: str, action: str, alias: str) -> SanchaekError:
    """One line naming what failed, the server's reason, and the fix for this kind of failure."""
    status, kind, reason = error_parts(exc)
    said = f"{action} failed at {where} ({status} {kind}: {reason})"
    lowered = reason.lower()
    if status == 401:
        return SanchaekError(
            f"{said}: set ELASTICSEARCH_API_KEY, or ELASTICSEARCH_USERNAME / ELASTICSEARCH_PASSWORD"
        )
    if status == 403:
        return SanchaekError(
            f"{said}: grant the user the cluster privilege monitor and the index privileges "
            f"create_index, write, read, manage on {alias}* (or use another ELASTICSEARCH_API_KEY)"
        )
    if kind == "media_type_header_exception" or "compatible-with" in lowered:
        return SanchaekError(
            f"{said}: the server's version is not one sanchaek speaks; it supports {SUPPORTED}"
        )
    if "nori" in lowered and ("unknown" in lowered or "failed to find" in lowered or "not found" in lowered):
        return SanchaekError(f"{said}: {NORI_HINT}")
    if "pos.tag" in lowered or "stoptag" in lowered:
        return SanchaekError(f"{said}: fix index.analysis.nori_part_of_speech.stoptags")
    if status == 429:
        return SanchaekError(
            f"{said}: the cluster stayed overloaded through every retry; retry later, lower "
            "index.elasticsearch_bulk_docs or raise index.elasticsearch_max_retries"
        )
    return SanchaekError(said)


@contextmanager
def translated_errors(where: str, action: str, alias: str):  # type: ignore[no-untyped-def]
    """Turn client and transport exceptions raised inside into one-line ``SanchaekError``s."""
    from elastic_transport import ApiError as TransportApiError
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import ConnectionTimeout, TlsError
    from elasticsearch import UnsupportedProductError

    try:
        yield
    except SanchaekError:
        raise
    except TlsError as exc:
        raise SanchaekError(
            f"{action} failed at {where}: TLS handshake failed ({_first_line(exc)}): set ELASTICSEARCH_CA_CERTS to "
            "the cluster's CA certificate (http_ca.crt), or ELASTICSEARCH_VERIFY_CERTS=false for a throwaway "
            "test cluster"
        ) from exc
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise SanchaekError(
            f"{action} failed: cannot reach Elasticsearch at {where} ({type(exc).__name__}: {_first_line(exc)}): "
            "start the server, fix index.elasticsearch_url / ELASTICSEARCH_URL, or set index.backend: embedded"
        ) from exc
    except UnsupportedProductError as exc:
        raise SanchaekError(
            f"{action} failed: the server at {where} is not Elasticsearch (no X-Elastic-Product header); "
            f"sanchaek supports {SUPPORTED}"
        ) from exc
    except TransportApiError as exc:
        raise api_error(exc, where, action, alias) from exc


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return " ".join(text.split())[:300]
