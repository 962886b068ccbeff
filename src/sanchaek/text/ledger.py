"""What documents add to the preprocess stage's counts and per-source measures, mergeable in order.

A worker fills one ``Ledger`` per document; the calling process merges them in document order, so
every counter, histogram and float sum is built in the same order as in one process.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


class Tally:
    """in / out / dropped-by-reason, overall and per source; ``in == out + sum(dropped)`` holds."""

    def __init__(self) -> None:
        self.n_in: Counter = Counter()
        self.n_out: Counter = Counter()
        self.dropped: dict[str, Counter] = defaultdict(Counter)

    def take(self, source: str, n: int = 1) -> None:
        self.n_in[source] += n

    def keep(self, source: str, n: int = 1) -> None:
        self.n_out[source] += n

    def drop(self, source: str, reason: str, n: int = 1) -> None:
        self.dropped[source][reason] += n

    def merge(self, other: Tally) -> None:
        self.n_in.update(other.n_in)
        self.n_out.update(other.n_out)
        for source, counts in other.dropped.items():
            self.dropped[source].update(counts)

    def report(self) -> dict:
        total: Counter = Counter()
        for counts in self.dropped.values():
            total.update(counts)
        return {
            "in": sum(self.n_in.values()),
            "out": sum(self.n_out.values()),
            "dropped": dict(sorted(total.items())),
            "per_source": {
                s: {
                    "in": self.n_in[s],
                    "out": self.n_out[s],
                    "dropped": dict(sorted(self.dropped[s].items())),
                }
                for s in sorted(self.n_in)
            },
        }


@dataclass
class GroupStats:
    """Accumulators for reports/sources.json (one per source, genre, layout and origin).

    Sentence lengths are a histogram, not a list: its size is bounded by the longest sentence
    kept, not by the corpus, and it gives the same mean and median."""

    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    sentences_in: int = 0
    sentences_out: int = 0
    dialogue: int = 0
    hanja: int = 0
    hangul: int = 0
    period_words: int = 0
    words: int = 0
    modern_docs: int = 0
    measured_docs: int = 0
    ttr_sum: float = 0.0
    ttr_windows: int = 0
    sentence_lengths: Counter = field(default_factory=Counter)

    def merge(self, other: GroupStats) -> None:
        for name in self.__dataclass_fields__:
            if name == "sentence_lengths":
                self.sentence_lengths.update(other.sentence_lengths)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Ledger:
    """What some documents add to the stage's counts; ``merge`` adds another ledger in order."""

    docs: Tally = field(default_factory=Tally)
    sentences: Tally = field(default_factory=Tally)
    passages: Tally = field(default_factory=Tally)
    stats: dict[tuple[str, str], GroupStats] = field(default_factory=lambda: defaultdict(GroupStats))
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def merge(self, other: Ledger) -> None:
        self.docs.merge(other.docs)
        self.sentences.merge(other.sentences)
        self.passages.merge(other.passages)
        for group, s in other.stats.items():
            self.stats[group].merge(s)
        for name, counter in other.counts.items():
            self.counts[name].update(counter)
