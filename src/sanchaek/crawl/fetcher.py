"""The one polite HTTP fetcher every site source goes through.

Per request: robots.txt check (and its Crawl-delay), a per-host pause, bounded retries with
exponential backoff that honour ``Retry-After`` (seconds or HTTP-date) on 429/503, redirects
followed by hand (each hop robots-checked; loops and other hosts are errors, an http -> https
upgrade on the same host is not), a size cap, a deadline for the whole response and charset
detection. Time is read and spent only through an injectable clock, so tests assert the waits
without sleeping them (the response deadline is real time: it guards a real socket).

robots.txt (RFC 9309 2.3-2.4): up to five redirects followed to any host; 4xx including 429 means
"no rules"; 5xx or no answer means "disallow all" for this run; rules are reread after
``robots_max_age_s`` (24 h at most). Proxies come from ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``
like every httpx client; ``ca_bundle`` adds the CA of a TLS-inspecting proxy.
"""

from __future__ import annotations

import email.utils
import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from ..config.crawl import FetchParams
from ..errors import SanchaekError
from .charset import decode_body
from .robots import Robots, parse_robots

ROBOTS_MAX_REDIRECTS = 5  # RFC 9309 2.3.1.2: follow at least five, to any host

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
GONE_STATUSES = frozenset({404, 410})


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...
    def now(self) -> float: ...  # wall clock, epoch seconds (for HTTP-date Retry-After, fetched_at)


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def now(self) -> float:
        return time.time()


class FetchError(Exception):
    """One URL could not be fetched. ``kind``: robots | gone | http | retries | redirect | too-large."""

    def __init__(self, url: str, reason: str, kind: str, status: int | None = None):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.kind, self.status = url, reason, kind, status


@dataclass
class Page:
    url: str  # what was asked for
    final_url: str  # after redirects
    status: int
    headers: httpx.Headers
    content: bytes
    text: str
    encoding: str


@dataclass
class _Raw:
    status: int
    headers: httpx.Headers
    content: bytes


@dataclass
class Fetcher:
    params: FetchParams
    clock: Clock = field(default_factory=SystemClock)
    transport: httpx.BaseTransport | None = None
    requests: int = 0
    waits: list[tuple[str, float, str]] = field(default_factory=list)  # (url, seconds, why) for tests/report
    robots_report: dict[str, dict] = field(default_factory=dict)
    _robots: dict[str, Robots] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=dict)
    _secrets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        p = self.params
        verify: ssl.SSLContext | bool = True
        if p.ca_bundle:
            verify = ssl.create_default_context()
            try:
                verify.load_verify_locations(cafile=p.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise SanchaekError(
                    f"crawl.fetch.ca_bundle {p.ca_bundle} is not a readable PEM file of CA certificates ({exc})"
                ) from None
        self.client = httpx.Client(
            headers={"User-Agent": p.user_agent, "Accept-Language": "ko,en;q=0.5"},
            timeout=httpx.Timeout(p.read_timeout_s, connect=p.connect_timeout_s),
            follow_redirects=False,  # by hand: every hop is robots-checked and loop-checked
            transport=self.transport,
            verify=verify,
            trust_env=True,  # HTTP_PROXY / HTTPS_PROXY / NO_PROXY, SSL_CERT_FILE
        )

    def close(self) -> None:
        self.client.close()

    def add_secret(self, secret: str) -> None:
        """Keep e.g. an API key out of every message and report."""
        if secret:
            self._secrets.append(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # robots.txt ---------------------------------------------------------------------------------
    def robots_for(self, url: str) -> Robots:
        origin = _origin(url)
        cached = self._robots.get(origin)
        if cached is None or self.clock.monotonic() - cached.fetched_at > self.params.robots_max_age_s:
            robots = self._load_robots(origin)
            robots.fetched_at = self.clock.monotonic()
            self._robots[origin] = robots
            entry = self.robots_report.setdefault(origin, {"fetches": 0})
            entry.update(
                status=robots.status,
                crawl_delay=robots.crawl_delay(self.params.user_agent),
                message=robots.message,
                fetches=entry["fetches"] + 1,
            )
            if robots.final_url:
                entry["final_url"] = robots.final_url
            if robots.message:
                log.warning(robots.message)
        return self._robots[origin]

    def _load_robots(self, origin: str) -> Robots:
        url = origin + "/robots.txt"
        try:
            page = self.get(url, check_robots=False, max_redirects=ROBOTS_MAX_REDIRECTS, any_host=True)
        except FetchError as err:
            if err.status is not None and 400 <= err.status < 500:
                # RFC 9309 2.3.1.3: robots.txt "unavailable" (4xx, 429 included) -> crawling is allowed
                return Robots.allow_all(
                    "missing", f"{url}: HTTP {err.status}, no rules" if err.status == 429 else ""
                )
            return Robots.deny_all(
                "unreachable",
                f"{url} could not be read ({err.reason}): treating {origin} as disallow-all; rerun later",
            )
        body = page.text.lstrip()
        content_type = page.headers.get("content-type", "")
        if "html" in content_type or body[:1] == "<":
            return Robots.deny_all(
                "not-robots", f"{url} is an HTML page, not robots rules: treating {origin} as disallow-all"
            )
        robots = parse_robots(page.content)
        if page.final_url != url:
            robots.final_url = self.redact(page.final_url)
        return robots

    def allowed(self, url: str) -> bool:
        return self.robots_for(url).can_fetch(self.params.user_agent, url)

    # requests -----------------------------------------------------------------------------------
    def get(
        self,
        url: str,
        *,
        check_robots: bool = True,
        max_redirects: int | None = None,
        any_host: bool = False,
    ) -> Page:
        """GET one URL politely; raises FetchError for anything that is not a usable 2xx page."""
        limit = self.params.max_redirects if max_redirects is None else max_redirects
        chain = [url]
        current = url
        for _hop in range(limit + 1):
            if check_robots:
                self._check_robots(current)
            raw = self._request_with_retries(current)
            if raw.status in REDIRECT_STATUSES:
                location = raw.headers.get("location")
                if not location:
                    raise FetchError(
                        self.redact(current), f"HTTP {raw.status} without Location", "http", raw.status
                    )
                target = urljoin(current, location)
                if not any_host:
                    self._check_redirect(url, current, target)
                if target in chain:
                    loop = " -> ".join(chain + [target])
                    raise FetchError(self.redact(url), f"redirect loop ({self.redact(loop)})", "redirect")
                chain.append(target)
                current = target
                continue
            if raw.status in GONE_STATUSES:
                raise FetchError(
                    self.redact(current), f"HTTP {raw.status} (deleted or missing)", "gone", raw.status
                )
            if raw.status >= 400 or raw.status < 200:
                raise FetchError(self.redact(current), f"HTTP {raw.status}", "http", raw.status)
            text, encoding = decode_body(raw.content, raw.headers.get("content-type", ""))
            return Page(url, current, raw.status, raw.headers, raw.content, text, encoding)
        raise FetchError(
            self.redact(url),
            f"more than {limit} redirects (crawl.fetch.max_redirects)",
            "redirect",
        )

    def _check_robots(self, url: str) -> None:
        robots = self.robots_for(url)
        if not robots.can_fetch(self.params.user_agent, url):
            raise FetchError(self.redact(url), "disallowed by robots.txt", "robots")
        delay = robots.crawl_delay(self.params.user_agent)
        if delay is not None and delay > self.params.max_crawl_delay_s:
            raise FetchError(
                self.redact(url),
                f"robots.txt asks for a Crawl-delay of {delay:g} s, more than crawl.fetch.max_crawl_delay_s"
                if delay < 1e300
                else "robots.txt asks for a Crawl-delay of inf s, more than crawl.fetch.max_crawl_delay_s",
                "robots",
            )

    def _check_redirect(self, url: str, current: str, target: str) -> None:
        """Same host (an http -> https upgrade included) or an allowed host; never https -> http."""
        here, there = urlsplit(current), urlsplit(target)
        host = (there.hostname or "").lower()
        if there.scheme not in ("http", "https"):
            raise FetchError(self.redact(url), f"redirect to a {there.scheme}: URL not followed", "redirect")
        if here.scheme == "https" and there.scheme == "http":
            raise FetchError(self.redact(url), "redirect from https down to http not followed", "redirect")
        if host != (here.hostname or "").lower() and host not in self.params.allowed_redirect_hosts:
            raise FetchError(self.redact(url), f"redirect to another host {host} not followed", "redirect")

    def _request_with_retries(self, url: str) -> _Raw:
        p = self.params
        tries = p.max_retries + 1
        for attempt in range(tries):
            self._wait_turn(url)
            retry_after: float | None = None
            status: int | None = None
            try:
                raw = self._send(url)
            except httpx.TimeoutException as exc:
                reason = f"timeout ({type(exc).__name__}{': ' if str(exc) else ''}{exc})"
            except httpx.TransportError as exc:  # connection refused/reset, truncated body, ...
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if raw.status not in RETRY_STATUSES:
                    return raw
                reason = f"HTTP {raw.status}"
                status = raw.status
                retry_after = parse_retry_after(raw.headers.get("retry-after"), self.clock.now())
            if attempt == tries - 1:
                raise FetchError(
                    self.redact(url), f"gave up after {tries} tries: {reason}", "retries", status
                )
            wait = min(p.backoff_base_s * 2**attempt, p.backoff_max_s)
            if retry_after is not None:
                if retry_after > p.max_retry_after_s:
                    raise FetchError(
                        self.redact(url),
                        f"{reason} asks to retry in {retry_after:.0f} s, more than crawl.fetch.max_retry_after_s",
                        "retries",
                        status,
                    )
                wait = max(wait, retry_after)  # the server's word wins over our shorter backoff
            log.info("%s: %s, retrying in %.1f s", self.redact(url), reason, wait)
            self.waits.append((self.redact(url), wait, reason))
            self.clock.sleep(wait)
        raise AssertionError("unreachable")

    def _wait_turn(self, url: str) -> None:
        """Per-host pause: max(min_delay_s, robots Crawl-delay) since the last request to that host
        (by host name: its http and https origins are one server to be polite to)."""
        origin, host = _origin(url), (urlsplit(url).hostname or "").lower()
        delay = self.params.min_delay_s
        robots = self._robots.get(origin)
        crawl_delay = robots.crawl_delay(self.params.user_agent) if robots else None
        if crawl_delay:  # past max_crawl_delay_s pages are refused anyway; robots.txt itself may be reread
            delay = max(delay, min(crawl_delay, self.params.max_crawl_delay_s))
        last = self._last.get(host)
        if last is not None:
            due = last + delay - self.clock.monotonic()
            if due > 0:
                self.clock.sleep(due)
        self._last[host] = self.clock.monotonic()

    def _send(self, url: str) -> _Raw:
        self.requests += 1
        cap = self.params.max_bytes
        # read_timeout_s bounds each wait for bytes; this bounds the whole response, so a server that
        # trickles one byte just inside the read timeout cannot hold the crawl forever
        deadline = time.monotonic() + self.params.total_timeout_s
        with self.client.stream("GET", url) as resp:
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise FetchError(
                    self.redact(url), f"response of {declared} bytes over max_bytes {cap}", "too-large"
                )
            body = bytearray()
            for chunk in resp.iter_bytes():
                body += chunk
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(
                        f"response not complete within crawl.fetch.total_timeout_s={self.params.total_timeout_s:g}"
                    )
                if len(body) > cap:
                    raise FetchError(self.redact(url), f"response over max_bytes {cap}", "too-large")
            return _Raw(resp.status_code, resp.headers, bytes(body))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)
