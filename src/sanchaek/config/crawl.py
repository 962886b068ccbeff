"""``crawl`` params: the polite fetcher, the rights policy and one block per source.

Defaults live only here. Site base URLs are params so that tests point them at 127.0.0.1.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from .base import Section

SourceName = Literal["corpus", "munjang", "brunch", "mirror"]

# Agents that collect text to train AI models. A site whose robots.txt shuts any of them out has said
# "not for AI training"; we honour that even though our own user agent falls in the `*` group.
DEFAULT_AI_AGENTS = [
    "GPTBot",
    "ClaudeBot",
    "anthropic-ai",
    "Claude-Web",
    "CCBot",
    "Google-Extended",
    "Applebot-Extended",
    "Bytespider",
    "cohere-ai",
    "cohere-training-data-crawler",
    "meta-externalagent",
    "Diffbot",
    "Omgilibot",
]


def site_root(value: str) -> str:
    """A base URL must be a bare origin (``scheme://host[:port]``).

    robots.txt and /.well-known/tdmrep.json live at the host root (RFC 9309, W3C TDMRep): a site
    served under a path prefix (a mirror, a reverse proxy) would have its AI-training opt-out read
    from the wrong place and be crawled. So a path is refused here rather than half supported.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL like https://example.org")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"must be scheme://host[:port] with no path ('{parts.path}'): robots.txt and tdmrep.json are "
            "read at the host root, so a site under a path prefix could hide its AI-training opt-out; "
            "serve it at its own host or port"
        )
    return f"{parts.scheme}://{parts.netloc}"


class FetchParams(Section):
    """The one HTTP client every site source goes through."""

    user_agent: str = Field(
        "sanchaek/0.1 (literary research crawler; personal local copy; +https://github.com/sanchaek/sanchaek)",
        min_length=8,
    )
    min_delay_s: float = Field(3.0, ge=0.0, le=3600.0)  # per host; robots Crawl-delay wins when larger
    connect_timeout_s: float = Field(10.0, gt=0.0, le=300.0)
    read_timeout_s: float = Field(30.0, gt=0.0, le=600.0)
    max_retries: int = Field(3, ge=0, le=10)  # extra tries after the first, for 429/5xx/timeouts
    backoff_base_s: float = Field(2.0, ge=0.0, le=600.0)  # wait base * 2**attempt ...
    backoff_max_s: float = Field(120.0, ge=0.0, le=3600.0)  # ... capped here
    max_retry_after_s: float = Field(600.0, ge=0.0, le=86400.0)  # a longer Retry-After -> give up on the URL
    max_redirects: int = Field(5, ge=0, le=20)
    max_bytes: int = Field(5_000_000, ge=1024)  # response size cap
    allowed_redirect_hosts: list[str] = Field(default_factory=list)  # off-site hosts a redirect may go to
    total_timeout_s: float = Field(120.0, gt=0.0, le=3600.0)  # one response, start to end (a trickle too)
    truncated_retries: int = Field(2, ge=0, le=10)  # refetches of a 200 page that came back cut short
    robots_max_age_s: float = Field(86400.0, gt=0.0, le=86400.0)  # RFC 9309 2.4: reread after 24 h at most
    max_crawl_delay_s: float = Field(600.0, ge=0.0, le=86400.0)  # a longer robots Crawl-delay: host refused
    ca_bundle: str | None = None  # PEM file of extra trusted CAs (a TLS-inspecting proxy, a test server)
    progress: bool = True  # tqdm bar on a terminal (never when stderr is not a TTY)

    @field_validator("user_agent")
    @classmethod
    def _product_token(cls, value: str) -> str:
        # RFC 9309 2.2.1: sites name crawlers by this token, so it must be one they can write
        token = value.split("/", 1)[0]
        if not re.fullmatch(r"[A-Za-z_-]+", token):
            raise ValueError("must start with a product token of letters, '_' or '-' (e.g. 'sanchaek/0.1')")
        return value


class RightsParams(Section):
    """AI-training opt-out signals we honour before crawling (see crawl/rights.py)."""

    ai_agents: list[str] = Field(default_factory=lambda: list(DEFAULT_AI_AGENTS), min_length=1)
    page_signals: bool = True  # noai/noimageai robots meta, X-Robots-Tag, tdm-reservation meta/header
    tdmrep: bool = True  # /.well-known/tdmrep.json


class CorpusSourceParams(Section):
    path: str = "data/external/works.jsonl"
    on_bad_line: Literal["raise", "skip"] = "raise"


class SiteSourceParams(Section):
    """Knobs every site source shares."""

    rights_holder_opt_in: bool = False  # true only if you hold the rights to what this source collects
    max_documents: int | None = Field(None, ge=1)  # stop after this many documents (None: all)
    min_chars: int = Field(200, ge=1)  # a body shorter than this is an extraction error, not a document


class MunjangParams(SiteSourceParams):
    base_url: str = "https://munjang.or.kr"
    mid: str = "a20103000000"  # board.es 소설 board
    bid: str = "0003"
    max_pages: int = Field(100, ge=1)  # listing pages (12 works each); the crawl also stops at an empty page
    # KCISA open API (API_CCA_160), used instead of HTML listing when this env var holds a service key.
    api_key_env: str = "KCISA_SERVICE_KEY"
    api_base_url: str = "http://api.kcisa.kr"
    api_path: str = "/openapi/API_CCA_160/request"
    api_gubun: str = "소설"
    api_page_size: int = Field(20, ge=1, le=1000)

    _roots = field_validator("base_url", "api_base_url")(lambda cls, v: site_root(v))


class BrunchParams(SiteSourceParams):
    base_url: str = "https://brunch.co.kr"
    profiles: list[str] = Field(default_factory=list)  # profile ids (with or without @) to collect
    # The article API lists a profile's articles with exact publish times in few requests; a profile
    # whose API listing fails (or api host's robots.txt refuses it) falls back to profile page + RSS.
    use_api: bool = True
    api_base_url: str = "https://api.brunch.co.kr"
    api_page_size: int = Field(20, ge=1, le=100)
    max_api_pages: int = Field(50, ge=1)  # per profile

    _roots = field_validator("base_url", "api_base_url")(lambda cls, v: site_root(v))

    @field_validator("profiles")
    @classmethod
    def _strip_at(cls, value: list[str]) -> list[str]:
        cleaned = [p.strip().lstrip("@") for p in value]
        if any(not p or "/" in p for p in cleaned):
            raise ValueError("profile ids look like 'author' or '@author'")
        return cleaned


class MirrorParams(SiteSourceParams):
    base_url: str = "http://mirrorzine.kr"
    notice_mid: str = "notice"  # board holding the monthly "N호 업데이트" issue posts
    issue_title_pattern: str = "업데이트"  # notice posts whose title contains this link the issue's works
    work_mids: list[str] = Field(default_factory=list)  # boards works may live on ([] = any but notice)
    # Besides the notice board, the listings of these boards are walked: work_mids plus every board an
    # issue post linked a work on (works listed on their board but never announced are found too).
    walk_boards: bool = True
    max_pages: int = Field(50, ge=1)  # per board

    _roots = field_validator("base_url")(lambda cls, v: site_root(v))


class CrawlParams(Section):
    sources: list[SourceName] = Field(default_factory=lambda: ["corpus"], min_length=1)
    # site sources on different hosts crawl at once (politeness stays per host); sources that share
    # a host crawl one after another. 1 = every source one after another.
    parallel_hosts: int = Field(4, ge=1, le=64)
    fetch: FetchParams = FetchParams()
    rights: RightsParams = RightsParams()
    corpus: CorpusSourceParams = CorpusSourceParams()
    munjang: MunjangParams = MunjangParams()
    brunch: BrunchParams = BrunchParams()
    mirror: MirrorParams = MirrorParams()

    @field_validator("sources")
    @classmethod
    def _no_duplicate_sources(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each source may be listed once")
        return value

    @model_validator(mode="after")
    def _sources_can_run(self) -> CrawlParams:
        # checked at load time, so no source crawls before a later one turns out unusable
        if "brunch" in self.sources and not self.brunch.profiles:
            raise ValueError(
                "crawl.brunch.profiles is empty while brunch is in crawl.sources: list the profile ids "
                "to collect (e.g. [myname]) or drop brunch from crawl.sources"
            )
        return self
