"""robots.txt per RFC 9309: groups, longest-match Allow/Disallow with `*` and `$`, Crawl-delay.

Our own small parser because ``urllib.robotparser`` matches the first rule instead of the longest,
ignores `*`/`$` wildcards (brunch uses both) and cannot tell which agents a site named explicitly,
which the AI-training opt-out check (rights.py) needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Group:
    agents: list[str]  # lower-cased product tokens as written
    rules: list[tuple[bool, str]] = field(default_factory=list)  # (allow, path pattern)
    crawl_delay: float | None = None


@dataclass
class Robots:
    """Parsed rules of one host. ``status`` says where they came from (see Fetcher.robots_for)."""

    groups: list[Group] = field(default_factory=list)
    status: str = "ok"  # ok | missing (4xx: allow all) | unreachable (5xx/network: deny all) | not-robots
    message: str = ""

    @classmethod
    def allow_all(cls, status: str, message: str = "") -> Robots:
        return cls([], status, message)

    @classmethod
    def deny_all(cls, status: str, message: str) -> Robots:
        return cls([Group(["*"], [(False, "/")])], status, message)

    def group_for(self, agent: str) -> Group | None:
        """The group of the most specific matching agent token, else the `*` group."""
        token = agent.split("/")[0].strip().lower()
        named = [g for g in self.groups if any(a != "*" and a == token for a in g.agents)]
        if named:
            return _merge(named)
        star = [g for g in self.groups if "*" in g.agents]
        return _merge(star) if star else None

    def names_agent(self, agent: str) -> bool:
        """True when the site wrote a group for exactly this agent (not only `*`)."""
        token = agent.lower()
        return any(token in g.agents for g in self.groups)

    def can_fetch(self, agent: str, url: str) -> bool:
        group = self.group_for(agent)
        if group is None:
            return True
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        best_len, allowed = -1, True
        for allow, pattern in group.rules:
            if pattern == "":  # "Disallow:" with no path allows everything
                continue
            length = _match_length(pattern, path)
            # longest match wins; on a tie Allow wins (RFC 9309 2.2.2)
            if length > best_len or (length == best_len and allow):
                best_len, allowed = length, allow
        return allowed

    def crawl_delay(self, agent: str) -> float | None:
        group = self.group_for(agent)
        return group.crawl_delay if group else None


def _merge(groups: list[Group]) -> Group:
    merged = Group([a for g in groups for a in g.agents])
    for g in groups:
        merged.rules.extend(g.rules)
        if g.crawl_delay is not None:
            merged.crawl_delay = max(merged.crawl_delay or 0.0, g.crawl_delay)
    return merged


def _match_length(pattern: str, path: str) -> int:
    """Length of ``pattern`` if it matches the start of ``path``, else -1."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in body) + ("$" if anchored else "")
    return len(pattern) if re.match(regex, path) else -1


def parse_robots(text: str) -> Robots:
    """Parse robots.txt text; unknown lines are ignored like every crawler does."""
    groups: list[Group] = []
    current: Group | None = None
    in_agents = False  # consecutive user-agent lines share one group
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if current is None or not in_agents:
                current = Group([])
                groups.append(current)
            current.agents.append(value.lower())
            in_agents = True
            continue
        in_agents = False
        if current is None:
            continue
        if key in ("allow", "disallow"):
            current.rules.append((key == "allow", value))
        elif key == "crawl-delay":
            try:
                current.crawl_delay = float(value)
            except ValueError:
                pass
    return Robots(groups)
