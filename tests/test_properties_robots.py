"""Properties of robots.txt decisions (RFC 9309 2.2.2): the most specific rule wins, Allow wins a
tie, so the order of rules within a group, and how a crawler's groups are split up, never matter."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sanchaek.crawl.robots import parse_robots

FAST = settings(max_examples=80, deadline=5000)
AGENT = "sanchaek/0.1 (+https://example.invalid/bot)"

segment = st.text("ab/", min_size=0, max_size=4)
rule = st.tuples(st.sampled_from(["Allow", "Disallow"]), segment.map(lambda s: "/" + s))
rules = st.lists(rule, min_size=1, max_size=8)
paths = st.lists(segment.map(lambda s: "/" + s), min_size=1, max_size=8)


def reference(rules: list[tuple[str, str]], path: str) -> bool:
    """RFC 9309 2.2.2 for wildcard-free rules: longest matching path wins, Allow on a tie."""
    matching = [(len(p), kind == "Allow") for kind, p in rules if path.startswith(p)]
    return max(matching)[1] if matching else True


def robots(groups: list[list[tuple[str, str]]]) -> str:
    return "\n\n".join(
        "User-agent: sanchaek\n" + "\n".join(f"{kind}: {p}" for kind, p in group) for group in groups
    )


@FAST
@given(rules=rules, paths=paths, data=st.data())
def test_rule_order_within_a_group_does_not_change_a_decision(rules, paths, data):
    shuffled = data.draw(st.permutations(rules))
    first, second = parse_robots(robots([rules])), parse_robots(robots([shuffled]))
    for path in paths:
        url = "https://example.invalid" + path
        assert first.can_fetch(AGENT, url) == second.can_fetch(AGENT, url) == reference(rules, path)


@FAST
@given(rules=rules, paths=paths, cut=st.integers(0, 8))
def test_groups_for_the_same_agent_are_merged(rules, paths, cut):
    """RFC 9309 2.2.1: several groups naming the same agent are combined into one."""
    split = parse_robots(robots([rules[:cut], rules[cut:]] if 0 < cut < len(rules) else [rules]))
    for path in paths:
        assert split.can_fetch(AGENT, "https://example.invalid" + path) == reference(rules, path)


@FAST
@given(
    rules=rules,
    paths=paths,
    other=st.sampled_from(["Foo: bar", "Noindex: /x", "# a comment", "Unknown-field: 1"]),
)
def test_other_records_between_user_agent_lines_do_not_split_a_group(rules, paths, other):
    text = f"User-agent: somebot\n{other}\nUser-agent: sanchaek\n" + "\n".join(f"{k}: {p}" for k, p in rules)
    parsed = parse_robots(text)
    for path in paths:
        url = "https://example.invalid" + path
        assert parsed.can_fetch(AGENT, url) == reference(rules, path)
        assert parsed.can_fetch("somebot/2", url) == reference(rules, path)
