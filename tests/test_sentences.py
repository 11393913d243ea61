"""The sentence splitter: its rules on hand-made blog text, the ``knbc_sentences`` component through spaCy and
``pipeline.load()``, the evaluation against KNBC's whole articles, and bad input through the public API."""

import pytest
import spacy
import torch

import pipeline
from pipeline.corpus.articles import ArticleText, article_text, restore_asides
from pipeline.corpus.knp import KnpSentence
from pipeline.corpus.records import SentenceRecord
from pipeline.errors import TextInputError
from pipeline.evaluation.sentences import score_articles, splitter_pipeline
from pipeline.sentences import boundary_scores, sentence_starts, split_sentences, token_sentence_starts

torch.set_num_threads(1)


# -- the rules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, sentences", [
    ("今日は晴れ。明日は雨。", ["今日は晴れ。", "明日は雨。"]),
    ("すごい！！本当に？！うん。", ["すごい！！", "本当に？！", "うん。"]),
    ("えっと。。。そうだね", ["えっと。。。", "そうだね"]),
    ("Great! Really? ok", ["Great!", "Really?", "ok"]),
    ("そんな日本語ないか．次は京都．", ["そんな日本語ないか．", "次は京都．"]),
])
def test_sentence_final_marks_and_their_repeated_forms_end_a_sentence(text, sentences):
    assert split_sentences(text) == sentences


def test_a_line_break_ends_a_sentence_without_punctuation_and_blank_lines_belong_before():
    assert split_sentences("待ちぼうけ　メール受信の\n\n　カバンを探る\n") == ["待ちぼうけ　メール受信の", "カバンを探る"]
    assert sentence_starts("京都に行った\n\n楽しかった") == [0, 8]


@pytest.mark.parametrize("text, sentences", [
    ("彼は「行こう。」次の日に出た。", ["彼は「行こう。」", "次の日に出た。"]),
    ("楽しかった！(^^)次も行く。", ["楽しかった！(^^)", "次も行く。"]),
    ("嫌やもんねー。笑\n今日は", ["嫌やもんねー。笑", "今日は"]),
    ("すごい。（笑）また行こう。", ["すごい。（笑）", "また行こう。"]),
    ("最高！ｗｗ次は", ["最高！ｗｗ", "次は"]),
    ("脱力。ＯＲＺこんなこと", ["脱力。ＯＲＺ", "こんなこと"]),
    ("おいしかった。☆また行きたい", ["おいしかった。☆", "また行きたい"]),
])
def test_closing_quotes_and_emoticons_after_the_mark_stay_with_the_sentence(text, sentences):
    assert split_sentences(text) == sentences


@pytest.mark.parametrize("text, sentences", [
    ("メールって素敵♪特に好きな人とのメール", ["メールって素敵♪", "特に好きな人とのメール"]),
    ("木造ですごく素敵（＞▽＜）うん", ["木造ですごく素敵（＞▽＜）", "うん"]),
    ("全部おごってもらいましたｗやっぱり", ["全部おごってもらいましたｗ", "やっぱり"]),
])
def test_a_symbol_or_kaomoji_after_words_ends_a_sentence_without_a_mark(text, sentences):
    assert split_sentences(text) == sentences


@pytest.mark.parametrize("text", [
    "一時は「ツナガル。シカモ、イイ音デ。」とフルレート通話を押し出していました。",
    "「なんかあたし失礼なこと言ったかな…」「もしかしたら誰かと一緒にいるのかな…」とか。",
    "どでかい神楽松明（激しく燃えている！）を担いで歩き出す。",
    "頭に００３９をつけて１分税込１８．９円でかける．",
    "生粋のＰ．Ｈ．Ｓ．ユーザである。",
    "詳しくは www.example.jp を見てください。",
    "そんなのあたりまえだ！と切に主張したい。",
    "これっていつが旬だったっけ？と思うような食べ物。",
    "１．大阪市交通局の普通バスは均一料金２００円．",
    "☆藤井大丸はセレクトショップが多いです。",
    "笑顔が素敵な人。",
])
def test_what_must_not_split(text):
    assert split_sentences(text) == [text]


def test_laughter_after_a_mark_trails_it_but_a_word_beginning_with_it_does_not():
    assert split_sentences("楽しい。笑顔が素敵。") == ["楽しい。", "笑顔が素敵。"]
    assert split_sentences("楽しい。笑\n次") == ["楽しい。笑", "次"]


def test_an_ellipsis_ends_a_sentence_in_running_text_but_not_in_text_written_a_sentence_a_line():
    running = "考えた…結局行かなかった。"
    assert split_sentences(running) == ["考えた…", "結局行かなかった。"]
    assert sentence_starts(running, ellipsis_ends=False) == [0]
    lined = "考えた…結局行かなかった。\n次の日。\nまた次の日。"
    assert split_sentences(lined) == ["考えた…結局行かなかった。", "次の日。", "また次の日。"]
    assert split_sentences("すごい…って思った。") == ["すごい…って思った。"]  # a particle continues it


def test_a_sentence_in_brackets_after_a_mark_is_a_sentence_of_its_own():
    assert split_sentences("楽しかった。（私は行かないけど）次は京都。") == ["楽しかった。", "（私は行かないけど）", "次は京都。"]
    assert split_sentences("楽しかった。（笑）次は京都。") == ["楽しかった。（笑）", "次は京都。"]


def test_an_ellipsis_after_a_mark_opens_the_next_sentence():
    assert split_sentences("なんて。…そんな日本語ないか。") == ["なんて。", "…そんな日本語ないか。"]


@pytest.mark.parametrize("text, n_sentences", [
    ("(" * 30000 + ")" * 30000, 1), ("「" * 20000 + ")" * 20000, 1), ("＾" * 50000, 1), ("あ♪" * 20000, 20000),
    ("（あ。" * 20000, 20000),
])
def test_long_runs_of_brackets_and_symbols_are_split_in_one_pass(text, n_sentences):
    # these took minutes when a closer searched every open bracket and each symbol rescanned its sentence
    assert len(sentence_starts(text)) == n_sentences


def test_no_text_no_sentence_and_spans_cover_the_text():
    assert sentence_starts("") == [] and sentence_starts(" \n\u3000") == []
    assert split_sentences("😀🎉") == ["😀🎉"] and split_sentences("。。。") == ["。。。"]


def test_a_sentence_start_inside_a_token_moves_to_the_next_token():
    # tokens at 0 ("一つ。二"), 4 ("つ"), 5 ("。"): the start at 3 falls inside the first token
    assert token_sentence_starts([0, 4, 5], "一つ。二つ。") == [True, True, False]
    assert token_sentence_starts([], "") == []


# -- the component -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def splitter():
    return splitter_pipeline()


POST = "京都に行きました！！(^^)「すごい。」と言った。\nメールって素敵♪特に好き\n"


def test_the_component_sets_sentence_starts_so_doc_sents_works_without_a_parser(splitter):
    doc = splitter(POST)
    assert [s.text for s in doc.sents] == ["京都に行きました！！(^^)", "「すごい。」と言った。\n", "メールって素敵♪", "特に好き\n"]
    assert doc.has_annotation("SENT_START")


def test_nlp_pipe_gives_the_sentences_nlp_gives(splitter):
    texts = [POST, "", "一つ。", "a\nb\nc", "😀"]
    assert [[s.text for s in d.sents] for d in splitter.pipe(texts)] == [[s.text for s in splitter(t).sents] for t in texts]


@pytest.fixture(scope="module")
def nlp():
    return pipeline.load()


def test_pipeline_load_adds_the_splitter_after_the_vectors_and_docs_have_sentences(nlp):
    assert nlp.pipe_names[:2] == ["knbc_vectors", "knbc_sentences"]
    doc = nlp(POST)
    assert len(list(doc.sents)) == 4 and max(doc.cats, key=doc.cats.get) in doc.cats
    assert "knbc_sentences" not in pipeline.load(exclude=["knbc_sentences", "generator_continuation"]).component_names
    assert pipeline.load(disable=["knbc_sentences"], exclude=["generator_continuation"]).disabled == ["knbc_sentences"]


def test_an_assembled_pipeline_gives_sentences_through_spacy_load(tmp_path):
    from pipeline.loading import MODELS_DIR, check_model_dir
    from pipeline.training.train import assemble

    out = assemble([MODELS_DIR / "theme"], tmp_path / "assembled")
    check_model_dir(out)
    loaded = spacy.load(out)
    assert loaded.pipe_names == ["knbc_vectors", "knbc_sentences", "theme"]
    assert [s.text for s in loaded("今日は晴れ。明日は雨。").sents] == ["今日は晴れ。", "明日は雨。"]
    assert pipeline.load(out).pipe_names == loaded.pipe_names  # load() adds no second splitter


def test_a_doc_through_bytes_keeps_its_sentences(splitter):
    from spacy.tokens import Doc

    doc = splitter("今日は晴れ。明日は雨。")
    assert [s.text for s in Doc(splitter.vocab).from_bytes(doc.to_bytes()).sents] == ["今日は晴れ。", "明日は雨。"]


# -- the evaluation ----------------------------------------------------------------------------------

def test_boundary_scores_count_by_hand():
    scores = boundary_scores([0, 3, 8], [0, 3, 6, 9])  # the start of the text is no boundary
    assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (1, 2, 1)
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == pytest.approx(1 / 2)
    assert scores.f1 == pytest.approx(0.4)


def test_score_articles_on_a_tiny_synthetic_article(splitter):
    # the splitter finds the boundaries 3, 6, 9; the gold ones are 3 and 8: one found, two spurious, one missed
    article = ArticleText("A1", "一つ。二つ。三つ。四つ", [0, 3, 8], ["s1", "s2", "s3"])
    scores, errors, sentences = score_articles(splitter, [article])
    assert (scores.precision, scores.recall, round(scores.f1, 4), sentences) == (1 / 3, 1 / 2, 0.4, 3)
    assert sorted((e.kind, e.offset) for e in errors) == [("missed", 8), ("spurious", 6), ("spurious", 9)]


def _record(sid, raw, position, sub=1, header=None):
    knp = KnpSentence(sid, "", header or {}) if header else None
    text = raw.removeprefix("［京都観光］")
    return SentenceRecord(sid, "KN900_Kyoto_1", "京都観光", position, sub, raw, text, [], knp)


def test_articles_put_asides_back_and_keep_the_title_on_its_own_line():
    aside = _record("KN900_Kyoto_1-1-2-02", "しぐれでん", 2, 2, {"括弧位置": "3", "括弧始": "（", "括弧終": "）"})
    records = [_record("KN900_Kyoto_1-1-1-01", "［京都観光］京都旅行", 1), _record("KN900_Kyoto_1-1-2-01", "時雨殿に行った。", 2),
               aside, _record("KN900_Kyoto_1-1-3-01", "楽しかった", 3)]
    assert restore_asides(records[1], [aside]) == "時雨殿（しぐれでん）に行った。"
    joined = article_text(records, "newline")
    assert joined.text == "京都旅行\n時雨殿（しぐれでん）に行った。\n楽しかった" and joined.boundaries == [5, 21]
    run_on = article_text(records, "none")
    assert run_on.text == "京都旅行\n時雨殿（しぐれでん）に行った。楽しかった" and run_on.boundaries == [5, 20]
    with pytest.raises(ValueError, match="separator"):
        article_text(records, "tab")


def test_the_rules_reach_f1_097_on_knbc_whole_articles_joined_either_way(corpus):
    for separator in ("newline", "none"):
        total = None
        for records in corpus.articles().values():
            article = article_text(records, separator)
            scores = boundary_scores(article.boundaries, sentence_starts(article.text))
            total = scores if total is None else total + scores
        assert total.f1 >= 0.97, (separator, total.as_dict())


# -- bad input through the public API ----------------------------------------------------------------

LONG = "京都の紅葉がきれいでした。" * 4000  # 156,000 UTF-8 bytes: over SudachiPy's 49,149


@pytest.mark.parametrize("text, n_sentences", [
    ("京都の紅葉がきれいでした。", 1),
    ("京都に行った。" * 1000, 1000),
    ("京都に行ったけど雨だったのでずっとホテルにいた", 1),
    ("京都に行った\n雨だった\nホテルにいた", 3),
    ("😀🎉✨", 1),
    ("(^^)♪♪", 1),
    (LONG, 4000),
])
def test_bad_input_gives_sentences_and_results(nlp, text, n_sentences):
    doc = nlp(text)
    assert len(list(doc.sents)) == n_sentences
    assert sum(v for k, v in doc.cats.items() if k in nlp.get_pipe("theme").labels) == pytest.approx(1.0, abs=1e-4)
    assert isinstance(doc._.generated, str)


def test_nlp_pipe_equals_nlp_on_bad_input(nlp):
    texts = ["", "  \n ", "京都に行った。" * 1000, "😀🎉✨", "京都に行った\n雨だった", "一文だけ。"]
    piped = list(nlp.pipe(texts))
    for text, doc in zip(texts, piped):
        single = nlp(text)
        assert [s.text for s in doc.sents] == [s.text for s in single.sents]
        assert doc.cats == pytest.approx(single.cats, abs=1e-5)


def test_input_that_is_no_text_is_a_one_line_error(nlp):
    with pytest.raises(TextInputError, match="expected the text as a str") as err:
        nlp.tokenizer(b"\xe4\xba\xac")
    assert "\n" not in str(err.value)
