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


def test_nearest_words_name_one_word_per_row_and_leave_out_the_query():
    import pipeline

    neighbours = pipeline.similar("テスト", top=8)
    words = [word for word, _ in neighbours]
    scores = [score for _, score in neighbours]
    assert len(set(words)) == 8 and "テスト" not in words and "テスト結果" not in words  # its row's other keys
    assert "試験" in words and scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] < 1
    assert pipeline.similar("焼き肉", top=3) == pipeline.similar("焼肉", top=3)  # 焼肉 found by its norm


def test_similar_command_prints_word_and_score_or_one_line_for_an_unknown_word():
    from typer.testing import CliRunner

    import pipeline
    from pipeline.cli import app
    from pipeline.errors import UnknownWordError

    runner = CliRunner()
    result = runner.invoke(app, ["similar", "ケータイ", "--top", "3"])
    assert result.exit_code == 0
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(lines) == 3 and lines[0][0] == "携帯電話" and float(lines[0][1]) > float(lines[2][1])
    unknown = runner.invoke(app, ["similar", "ｑｚｘｑｚｘｗｖ"])
    assert unknown.exit_code == 2 and len(unknown.output.strip().splitlines()) == 1
    with pytest.raises(UnknownWordError, match="2 tokens"):
        pipeline.similar("おいしかった")
