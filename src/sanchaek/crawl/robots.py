"""robots.txt per RFC 9309, matched by ``protego`` (a maintained parser), plus what it leaves to us.

protego gives longest-match Allow/Disallow with Allow winning ties, `*`/`$` matched without
backtracking, percent-encoding normalised on both sides (``/%7Efoo`` meets ``Disallow: /~foo``, a
raw Hangul rule meets its encoded request) and non-finite Crawl-delays refused. Before handing the
text over we fix three things it does differently from RFC 9309 and Google's reference matcher
(measured against both test suites, see tests/test_crawl_robots.py):

- a line that is no robots directive at all (``Foo: bar``) is dropped, so it cannot end a run of
  ``User-agent`` lines and split their group (RFC 9309 2.2.4: other records must not interfere);
- a ``User-agent`` value is cut to its first word (``Foo Bar`` -> ``Foo``), as Google does;
- a whole or partial UTF-8 byte-order mark before the first line is skipped.

The crawler matches with its product token (RFC 9309 2.2.1: the name before ``/``), never with the
whole User-Agent header, so words in our comment (``crawler``) never select somebody else's group.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass

from protego import Protego

# Fields protego understands (with its tolerated spellings); anything else is an "other record".
_DIRECTIVES = frozenset(
    {
        "user-agent", "useragent", "user agent",
        "allow", "disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw",
        "sitemap", "sitemaps", "site-map",
        "crawl-delay", "crawl delay", "request-rate", "request rate", "visit-time", "visit time",
        "host",
    }
)  # fmt: skip
_USER_AGENT_LINE = re.compile(r"^(\s*user[- ]?agent\s*:?\s*)(\S+)(.*)$", re.I)
_CRAWL_DELAY_LINE = re.compile(r"^(\s*crawl[- ]delay\s*:?\s*)([^#\s]+)", re.I)
_PRODUCT_TOKEN = re.compile(r"[^\s/;()]+")
_VALID_TOKEN = re.compile(r"[A-Za-z_-]+")
_BOMS = (b"\xef\xbb\xbf", b"\xef\xbb", b"\xef")


def product_token(agent: str) -> str:
    """``sanchaek/0.1 (+url)`` -> ``sanchaek``: the part robots.txt groups are matched against."""
    match = _PRODUCT_TOKEN.match(agent.strip())
    return match.group(0) if match else ""


def is_valid_product_token(token: str) -> bool:
    """RFC 9309 2.2.1: a crawler's product token is letters, ``_`` and ``-`` only."""
    return bool(_VALID_TOKEN.fullmatch(token))


def request_target(url: str) -> str:
    """Path, params and query of ``url`` (no fragment), ``/`` when it has none.

    Same cut as Google's reference matcher, so URLs without a scheme give the same answer.
    """
    start = 2 if url.startswith("//") else 0
    scheme_end = url.find("://")
    if start == 0 and scheme_end != -1 and "/" not in url[:scheme_end]:
        start = scheme_end + 3
    url = url.split("#", 1)[0]
    slash = url.find("/", start)
    query = url.find("?", start)
    if query != -1 and (slash == -1 or query < slash):
        return "/" + url[query:]
    return url[slash:] if slash != -1 else "/"


def robots_text(content: bytes | str) -> str:
    """robots.txt is UTF-8 (RFC 9309 2.3); a leading (even partial) BOM is skipped, bad bytes kept out."""
    if isinstance(content, bytes):
        for bom in _BOMS:
            if content.startswith(bom):
                content = content[len(bom) :]
                break
        return content.decode("utf-8", errors="replace")
    return content.removeprefix("\ufeff")


def _unknown_record(line: str) -> bool:
    """A ``field: value`` line whose field is no robots directive (protego's reading of the colon:
    ``Sitemap https://…`` has a colon too, but not one followed by a space, and is left to it)."""
    body = line.split("#", 1)[0]
    if ":" not in body:
        return False
    name, value = body.split(":", 1)
    name = name.strip().lower()
    return bool(name) and name not in _DIRECTIVES and (not value or value[0].isspace())


def _prepare(text: str) -> tuple[str, frozenset[str]]:
    """The text protego should see (see the module doc) and the agent tokens the file names."""
    kept: list[str] = []
    agents: set[str] = set()
    for line in re.split(r"\r\n|\r|\n", text):
        if _unknown_record(line):
            continue  # an "other record": must not end a group of user-agent lines
        ua = _USER_AGENT_LINE.match(line.split("#", 1)[0])
        if ua:
            line = ua.group(1) + ua.group(2)
            agents.add(ua.group(2).lower())
        delay = _CRAWL_DELAY_LINE.match(line)
        if delay:
            try:
                value = float(delay.group(2))
            except ValueError:
                value = 0.0  # not a number: protego ignores it
            if value == math.inf:  # protego would ignore "inf"; it asks for as slow as can be
                line = delay.group(1) + repr(sys.float_info.max)
        kept.append(line)
    return "\n".join(kept), frozenset(agents)


@dataclass
class Robots:
    """The rules of one origin. ``status`` says where they came from (see Fetcher.robots_for)."""

    parser: Protego | None = None
    agents: frozenset[str] = frozenset()  # lower-cased User-agent tokens the file names
    status: str = "ok"  # ok | missing (4xx: allow all) | unreachable (5xx/network: deny all) | not-robots
    message: str = ""
    deny: bool = False
    fetched_at: float = 0.0  # monotonic time of the fetch; rules older than a day are fetched again
    final_url: str = ""  # where robots.txt was found after redirects

    @classmethod
    def allow_all(cls, status: str, message: str = "") -> Robots:
        return cls(status=status, message=message)

    @classmethod
    def deny_all(cls, status: str, message: str) -> Robots:
        return cls(status=status, message=message, deny=True)

    def can_fetch(self, agent: str, url: str) -> bool:
        if self.deny:
            return False
        token = product_token(agent)
        if self.parser is None or not token:
            return True
        # an absolute URL, so that a target starting "//" is never read as a host
        return self.parser.can_fetch("http://robots.invalid" + request_target(url), token)

    def names_agent(self, agent: str) -> bool:
        """True when the site wrote a group for this agent (its token or a prefix of it), not only `*`."""
        token = product_token(agent).lower()
        return bool(token) and any(a != "*" and token.startswith(a) for a in self.agents)

    def crawl_delay(self, agent: str) -> float | None:
        if self.parser is None:
            return None
        token = product_token(agent)
        return self.parser.crawl_delay(token) if token else None

    @property
    def sitemaps(self) -> list[str]:
        return list(self.parser.sitemaps) if self.parser is not None else []


def parse_robots(content: bytes | str) -> Robots:
    """Parse robots.txt bytes (or text); unknown lines are ignored."""
    text, agents = _prepare(robots_text(content))
    return Robots(parser=Protego.parse(text), agents=agents)
