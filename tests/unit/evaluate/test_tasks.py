"""The continuation task built from held-out documents, and the JSQuAD measure."""

import collections

import pytest

from hagane.config import ContinuationConfig
from hagane.errors import HaganeError
from hagane.evaluate.tasks import build_continuation, char_f1, jsquad_results, passages

SETTINGS = ContinuationConfig(choices=4, context_chars=30, continuation_chars=12, max_items=30, seed=1)


def document(i: int) -> dict:
    sentences = [f"文書{i}の第{k}文は、番号{i * 100 + k}について述べている。" for k in range(12)]
    return {"id": f"doc{i:02d}", "source": "toy", "text": "".join(sentences)}


def test_passages_cut_at_sentence_boundaries_without_overlap():
    doc = document(3)
    pairs = passages(doc["id"], doc["text"], SETTINGS)
    assert len(pairs) >= 3
    pos = 0
    for context, continuation in pairs:
        start = doc["text"].index(context + continuation, pos)
        assert start >= pos and context.endswith("。") and len(continuation) == 12
        assert 15 <= len(context) <= 30
        pos = start + len(context) + len(continuation)


def test_items_are_deterministic_balanced_and_distract_from_other_documents():
    docs = [document(i) for i in range(8)]
    items = build_continuation(docs, SETTINGS)
    assert items == build_continuation(list(reversed(docs)), SETTINGS)  # order of input does not matter
    assert len(items) == 30  # of the 40 passages, max_items
    by_id = {d["id"]: d["text"] for d in docs}
    for item in items:
        true = item["choices"][item["label"]]
        assert item["context"] + true in by_id[item["doc_id"]]
        assert len(set(item["choices"])) == 4 and all(len(c) == 12 for c in item["choices"])
        others = [c for k, c in enumerate(item["choices"]) if k != item["label"]]
        assert not any(c in by_id[item["doc_id"]] for c in others)
    labels = collections.Counter(i["label"] for i in items)
    assert set(labels) == {0, 1, 2, 3} and max(labels.values()) < 16
    assert build_continuation(docs, ContinuationConfig(**{**vars(SETTINGS), "seed": 2})) != items


def test_too_few_held_out_documents_is_an_error_that_says_what_to_change():
    with pytest.raises(HaganeError, match=r"at least 4 held-out documents .* found 2; raise split.validation_fraction"):
        build_continuation([document(0), document(1)], SETTINGS)


def test_jsquad_scores_by_characters():
    assert char_f1("東京都", "東京") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert char_f1("大阪", "東京") == 0.0
    doc = {"answers": ["約1400万人", "1400万人"]}
    assert jsquad_results(doc, [" 1400万人。"]) == {"exact_match": 1.0, "char_f1": 1.0}
