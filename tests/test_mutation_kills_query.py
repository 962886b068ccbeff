"""Tests that kill the mutants of the query stage's train/val split (src/sanchaek/query.py) that its
other tests let live (`make mutation`, reports/quality/mutation.json)."""

from __future__ import annotations

from sanchaek.query import split_documents
from sanchaek.search.theme_query import document_rank


def test_the_split_of_a_fixed_set_never_changes():
    """Golden values: a change here moves documents between train and val, so val losses of runs
    before and after it are no longer comparable."""
    docs = [f"doc{i}" for i in range(10)]
    assert split_documents(docs, 0.3, seed=7) == {"doc1", "doc5", "doc9"}
    assert document_rank("doc1", 7) == "090acc8d832ccfbdce8bbe1106bb7f4fd96a782465a18533511a41e16332b0fc"


def test_no_fraction_holds_nothing_out_and_two_documents_give_one_each_side():
    assert split_documents(["a", "b", "c"], 0.0, seed=1) == set()
    assert split_documents(["a", "b", "c"], -0.1, seed=1) == set()
    assert len(split_documents(["a", "b"], 0.5, seed=1)) == 1
    assert len(split_documents(["a", "b", "c"], 0.99, seed=1)) == 2  # never every document
