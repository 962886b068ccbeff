"""AI-training opt-out signals, checked before a site source collects anything.

Site level: robots.txt groups that shut out known AI-training agents (GPTBot, ClaudeBot, CCBot, ...),
and a TDM reservation in ``/.well-known/tdmrep.json`` (W3C TDMRep). Page level: ``noai`` /
``noimageai`` in robots meta or ``X-Robots-Tag``, and ``tdm-reservation: 1`` as meta or header.
A source refuses on any signal unless the user declared in params that they hold the rights.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from ..config.crawl import RightsParams
from .fetcher import Fetcher, FetchError, Page
from .html import parse


@dataclass
class RightsDecision:
    decision: str  # allowed | refused | opt-in
    signals: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def refused(self) -> bool:
        return self.decision == "refused"

    def as_dict(self) -> dict:
        return asdict(self)


def site_signals(fetcher: Fetcher, probe_url: str, params: RightsParams) -> list[str]:
    """Opt-out signals of the site that serves ``probe_url`` (the first page the source would read)."""
    robots = fetcher.robots_for(probe_url)
    signals = [
        f"robots.txt disallows {agent}"
        for agent in params.ai_agents
        if robots.names_agent(agent) and not robots.can_fetch(agent, probe_url)
    ]
    if params.tdmrep:
        signals += _tdmrep_signals(fetcher, probe_url)
    return signals


def _tdmrep_signals(fetcher: Fetcher, probe_url: str) -> list[str]:
    parts = urlsplit(probe_url)
    url = f"{parts.scheme}://{parts.netloc}/.well-known/tdmrep.json"
    try:
        page = fetcher.get(url)
    except FetchError:
        return []  # absent (the usual case) or unreadable: no reservation declared
    try:
        rules = json.loads(page.text)
    except ValueError:
        return []
    path = parts.path or "/"
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict):
            continue
        location = str(rule.get("location", ""))
        pattern = "^" + re.escape(location).replace(r"\*", ".*")
        if str(rule.get("tdm-reservation")) == "1" and re.match(pattern, path):
            return [f"tdmrep.json reserves TDM rights for {location}"]
    return []


def page_signals(page: Page) -> list[str]:
    """Opt-out signals one page carries in its headers or meta tags."""
    signals: list[str] = []
    tag = page.headers.get("x-robots-tag", "").lower()
    for word in ("noai", "noimageai"):
        if re.search(rf"\b{word}\b", tag):
            signals.append(f"X-Robots-Tag: {word}")
    if page.headers.get("tdm-reservation", "").strip() == "1":
        signals.append("tdm-reservation header")
    if "<meta" not in page.text.lower():
        return signals
    tree = parse(page.text)
    for meta in tree.css("meta[name]"):
        name = (meta.attributes.get("name") or "").lower()
        content = (meta.attributes.get("content") or "").lower()
        if name in ("robots", "googlebot") or name.endswith("bot"):
            for word in ("noai", "noimageai"):
                if re.search(rf"\b{word}\b", content):
                    signals.append(f"<meta name={name}> {word}")
        if name == "tdm-reservation" and content.strip() == "1":
            signals.append("<meta name=tdm-reservation> 1")
    return signals


def decide(source: str, signals: list[str], opt_in: bool) -> RightsDecision:
    if not signals:
        return RightsDecision("allowed")
    found = "; ".join(signals)
    if opt_in:
        return RightsDecision(
            "opt-in",
            signals,
            f"{source}: AI-training opt-out ({found}) overridden: you declared you hold the rights",
        )
    return RightsDecision(
        "refused",
        signals,
        f"{source}: the site opts out of AI training ({found}); refusing. If you hold the rights to what "
        f"you collect, set crawl.{source}.rights_holder_opt_in: true",
    )
