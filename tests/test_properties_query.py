"""Properties of the query stage's train/val document split, on documents of several passages."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sanchaek.query import split_documents

FAST = settings(max_examples=60, deadline=5000)

# A selection of passages: each document contributes 1..6 passages, in any order.
doc_names = st.lists(st.text("abcdefgh가나다", min_size=1, max_size=6), min_size=0, max_size=25, unique=True)


@st.composite
def passages(draw) -> list[dict]:
    docs = draw(doc_names)
    records = [{"doc_id": d, "passage_id": f"{d}#{k}"} for d in docs for k in range(draw(st.integers(1, 6)))]
    return draw(st.permutations(records))


@FAST
@given(records=passages(), val_fraction=st.floats(0.0, 0.9), seed=st.integers(0, 2**31))
def test_no_document_is_on_both_sides_and_the_fraction_counts_documents(records, val_fraction, seed):
    val_docs = split_documents((r["doc_id"] for r in records), val_fraction, seed)
    train = [r for r in records if r["doc_id"] not in val_docs]
    val = [r for r in records if r["doc_id"] in val_docs]
    train_docs, held = {r["doc_id"] for r in train}, {r["doc_id"] for r in val}
    docs = {r["doc_id"] for r in records}
    assert not train_docs & held and train_docs | held == docs and held == val_docs
    # The share is of documents, not passages: a document with many passages counts once.
    if val_fraction > 0 and len(docs) >= 2:
        assert len(val_docs) == min(max(1, round(val_fraction * len(docs))), len(docs) - 1)
        assert train_docs  # never everything held out
    else:
        assert val_docs == set()


@FAST
@given(records=passages(), val_fraction=st.floats(0.01, 0.9), seed=st.integers(0, 2**31), data=st.data())
def test_split_ignores_passage_counts_and_order(records, val_fraction, seed, data):
    """The held-out documents depend on the set of documents and the seed only."""
    docs = sorted({r["doc_id"] for r in records})
    reordered = data.draw(st.permutations(docs))
    assert split_documents((r["doc_id"] for r in records), val_fraction, seed) == split_documents(
        reordered, val_fraction, seed
    )
