"""ja_ginza vectors on the Doc (knbc_vectors: text, then lemma, then norm) and nearest words."""

import numpy
import pytest

from pipeline.ginza import blank_japanese


@pytest.fixture(scope="module")
def nlp():
    nlp = blank_japanese()
    nlp.add_pipe("knbc_vectors")
    return nlp


def test_words_spacy_misses_get_vectors_through_lemma_or_norm(nlp):
    doc = nlp("私は焼肉をよく食べる")
    plain = blank_japanese()("私は焼肉をよく食べる")  # no hooks: spaCy's own lookup, by text, in an empty table
    for word in ("焼肉", "よく"):
        token = next(t for t in doc if t.text == word)
        assert token.has_vector and numpy.abs(token.vector).sum() > 0
        assert token._.vector_source == "norm"
        assert not next(t for t in plain if t.text == word).has_vector
    assert [t._.vector_source for t in doc if t.text in ("私", "食べる")] == ["text", "text"]
    assert doc.has_vector and doc[1:3].has_vector and doc.vector.shape == (300,)
    assert numpy.allclose(doc[2:3].vector, doc[2].vector)
    assert plain[0]._.vector_source is None


def test_related_words_are_more_similar_than_unrelated_ones(nlp):
    test, exam, grilled_meat = (nlp(word)[0] for word in ("テスト", "試験", "焼肉"))
    assert test.similarity(exam) > test.similarity(grilled_meat)
    assert nlp("ラーメンがおいしい").similarity(nlp("焼肉がうまい")) > nlp("ラーメンがおいしい").similarity(nlp("携帯の電池"))


def test_a_token_without_any_vector_reads_zeros(nlp):
    token = nlp("ｑｚｘｑｚｘｗｖ")[0]
    assert not token.has_vector and token._.vector_source is None
    assert not numpy.abs(token.vector).any() and token.similarity(nlp("試験")[0]) == 0.0
