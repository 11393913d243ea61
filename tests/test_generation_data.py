"""Generation data: keywords, pairs and the vocabulary."""

from pipeline.ginza import blank_japanese
from pipeline.models.vocabulary import (
    SPECIALS,
    Vocabulary,
    continuation_pairs,
    keyword_pairs,
    keywords,
)


def test_keywords_are_content_lemmas_in_order():
    nlp = blank_japanese()
    assert keywords(nlp("京都の紅葉がきれいでした。")) == ["京都", "紅葉", "きれい"]  # 形状詞 counts as ADJ
    assert keywords(nlp("おいしいラーメンを食べた")) == ["おいしい", "ラーメン", "食べる"]


def test_pairs_follow_article_order(sentences_by_id):
    nlp = blank_japanese()
    records = [sentences_by_id[f"KN001_Keitai_1-1-{i}-01"] for i in (1, 2, 3)]
    docs = list(nlp.tokenizer.pipe(r.text for r in records))
    kw = keyword_pairs(records, docs)
    assert [p.sid for p in kw] == [r.sid for r in records]
    assert kw[0].target == [t.text for t in docs[0]] and "［" not in "".join(kw[0].target)
    cont = continuation_pairs(records, docs)
    assert [p.sid for p in cont] == ["KN001_Keitai_1-1-2-01", "KN001_Keitai_1-1-3-01"]
    assert cont[0].source == ["<携帯電話>"] + [t.text for t in docs[0]] and cont[0].target == [t.text for t in docs[1]]


def test_vocabulary_round_trip():
    vocab = Vocabulary.build([["a", "b", "a"], ["a", "c", "b"]], min_count=2)
    assert vocab.itos[: len(SPECIALS)] == list(SPECIALS)
    assert vocab.itos[len(SPECIALS) :] == ["a", "b"]
    assert vocab.encode(["a", "z"]) == [4, 1]
    assert Vocabulary.from_dict(vocab.to_dict()).itos == vocab.itos
