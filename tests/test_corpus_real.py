"""The real KNB corpus: counts, hand-checked sentences, no theme marker in model-facing text."""

import re

from pipeline.corpus.labels import THEMES
from pipeline.corpus.stats import README_COUNTS, readme_mismatches, theme_statistics

MARKERS = [f"［{theme}］" for theme in THEMES.values()]


def test_counts_agree_with_the_corpus_readme(corpus):
    table = theme_statistics(corpus)
    assert readme_mismatches(table) == []
    total = table[table.theme == "total"].iloc[0]
    assert (total.articles, total.sentences) == (249, 4186)
    assert set(table.theme) == set(README_COUNTS) | {"total"}
    assert len(corpus.articles()) == 249


def test_annotation_totals(corpus):
    reputations = [r for s in corpus.sentences for r in s.reputations]
    assert len(reputations) == 2510
    assert sum(r.polarity == 1 for r in reputations) == 1423
    assert sum(r.polarity == -1 for r in reputations) == 865
    assert {r.category for r in reputations if r.polarity == 0} == {"当為", "要望"}
    assert sum(len(s.entities) for s in corpus.sentences) == 1976


def test_known_quirks_are_counted_not_crashed_on(corpus):
    report = corpus.report
    assert report.junk_files == ["corpus1/KN024_Kyoto_1/2"]
    assert report.duplicate_sentences == ["KN020_Keitai_1-1-12-01", "KN024_Keitai_1-1-34-01"]
    assert report.corpus2_only == ["KN033_Keitai_1-1-19-01", "KN033_Keitai_1-1-20-01"]
    assert report.corpus1_only == []
    assert len(report.text_mismatches) == 6
    assert report.unlocated_expressions == []
    without_knp = [s.sid for s in corpus.sentences if s.knp is None]
    assert without_knp == report.corpus2_only


def test_no_theme_marker_reaches_model_text(corpus):
    titles = [s for s in corpus.sentences if s.is_title]
    assert len(titles) == 249
    assert all(any(s.raw_text.startswith(m) for m in MARKERS) for s in titles)
    for s in corpus.sentences:
        assert not any(m in s.text for m in MARKERS), s.sid
        model_morphemes = "".join(m.surface for m in s.morphemes)
        assert not any(m in model_morphemes for m in MARKERS), s.sid
    assert not any(re.match("^［", s.text) for s in titles)


def test_title_is_stripped_but_raw_text_kept(sentences_by_id):
    title = sentences_by_id["KN001_Keitai_1-1-1-01"]
    assert title.is_title and title.position == 1
    assert title.raw_text == "［携帯電話］プリペイドカード携帯布教。"
    assert title.text == "プリペイドカード携帯布教。"
    assert [m.surface for m in title.morphemes] == ["プリペイド", "カード", "携帯", "布教", "。"]
    assert title.morphemes[0].start == len("［携帯電話］")  # offsets of the KNP analysis are kept raw


def test_hand_checked_reputations(sentences_by_id):
    s = sentences_by_id["KN001_Keitai_1-1-3-01"]
    assert s.theme == "携帯電話" and s.article_id == "KN001_Keitai_1" and s.position == 3
    found = [(r.label, s.text[r.start : r.end], r.holder, r.target_referent) for r in s.reputations]
    assert found == [
        ("メリット-", "犯罪に用いられるなどによりかなりイメージを悪化させてしまった", "[著者]", "プリペイド携帯"),
        ("批評+", "かなり使いでがある", "[著者]", "プリペイド携帯"),
    ]
    assert s.sentiment == "mixed"
    assert sentences_by_id["KN001_Keitai_1-1-2-01"].sentiment == "positive"


def test_hand_checked_entities_and_dependencies(sentences_by_id):
    s = sentences_by_id["KN024_Kyoto_1-1-2-01"]
    assert [(e.label, s.text[e.start : e.end]) for e in s.entities] == [
        ("ORGANIZATION", "大阪市交通局"),
        ("ORGANIZATION", "京都市交通局"),
    ]
    knp = s.knp
    assert knp.morphemes[0].surface == "大阪" and knp.morphemes[0].reading == "おおさか"
    assert knp.tags[0].head == 2 and knp.tags[0].bunsetsu == 0
    roots = [b.index for b in knp.bunsetsu if b.head == -1]
    assert roots == [len(knp.bunsetsu) - 1]
    relations = {(c.relation, c.target) for t in knp.tags for c in t.case_relations}
    assert ("ガ", "局") in relations


def test_parenthetical_sentences(sentences_by_id):
    s = sentences_by_id["KN001_Keitai_1-1-6-02"]
    assert s.is_parenthetical and s.position == 6 and s.sub_index == 2
    assert [(e.label, e.text) for e in s.entities] == [
        ("ARTIFACT", "Ｊ−ＳＡ０６"),
        ("ARTIFACT", "ｖｏｄａｆｏｎｅ"),
        ("ARTIFACT", "ｓｏｆｔｂａｎｋ"),
    ]


def test_entity_offsets_point_at_their_text(corpus):
    for s in corpus.sentences:
        for e in s.entities:
            assert s.text[e.start : e.end] == e.text, s.sid
        for r in s.reputations:
            assert s.text[r.start : r.end] == r.expression, s.sid


def test_sentences_are_in_article_order(corpus):
    for article, sentences in corpus.articles().items():
        keys = [(s.position, s.sub_index) for s in sentences]
        assert keys == sorted(keys), article
        assert sentences[0].is_title, article
