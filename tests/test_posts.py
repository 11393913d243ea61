"""knbc_post_classifier: the hierarchical attention network's masking, the component's overfitting_IO,
nlp.pipe against nlp(), one-sentence and empty posts, bad training data, and `knbc process --documents`."""

import json

import pytest
import spacy
import torch
from typer.testing import CliRunner

from pipeline.batch import AnnotateOptions, process
from pipeline.cli import app
from pipeline.errors import DataError, ModelError
from pipeline.ginza import blank_japanese
from pipeline.loading import save_pipeline
from pipeline.models.posts import PostFeatures, pad_posts, simple_sentence_starts
from pipeline.models.features import DocFeatures
from pipeline.nn.hierarchical import HierarchicalAttentionNetwork
from pipeline.training.posts import (
    PostTrainSettings,
    read_posts_jsonl,
    split_post,
    train_post_classifier,
    PostExample,
)

TINY = {"@architectures": "knbc.HierarchicalClassifier.v1", "word_hidden": 8, "sentence_hidden": 8,
        "attention_dim": 8, "trainable_dim": 8, "n_buckets": 500, "dropout": 0.0}
THEMES = ["携帯電話", "京都観光", "スポーツ", "グルメ"]
SENTIMENTS = ["positive", "negative", "mixed", "neutral"]
POSTS = [
    ("清水寺に行きました。紅葉がきれいでした！また京都に来たいです。", "京都観光", ["neutral", "positive", "positive"]),
    ("新しいケータイを買った。電池がすぐ切れる。困った。", "携帯電話", ["neutral", "negative", "negative"]),
    ("ラーメンを食べた。スープがおいしかった。", "グルメ", ["neutral", "positive"]),
    ("野球の試合を見た。負けて残念だった。", "スポーツ", ["neutral", "negative"]),
]


def tiny_nlp():
    nlp = blank_japanese()
    nlp.add_pipe("knbc_post_classifier", name="posts", config={"model": TINY})
    return nlp


def examples(nlp):
    out = []
    for text, label, sentiments in POSTS:
        doc = split_post(nlp, text, "posts")
        assert len(list(doc.sents)) == len(sentiments)
        out.append(PostExample(doc, label, [label] * len(sentiments), sentiments))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.manual_seed(0)
    nlp = tiny_nlp()
    data = examples(nlp)
    settings = PostTrainSettings(max_epochs=40, patience=40, batch_size=2, learn_rate=0.02)
    train_post_classifier(nlp.get_pipe("posts"), data, data, settings, THEMES, SENTIMENTS)
    path = tmp_path_factory.mktemp("posts") / "model"
    save_pipeline(nlp, path, task="posts", component="posts")
    return nlp, path


def _features(lengths, seed):
    gen = torch.Generator().manual_seed(seed)
    return PostFeatures([DocFeatures(torch.randint(-1, 50, (n,), generator=gen).numpy(),
                                     torch.randint(1, 30, (n,), generator=gen).numpy()) for n in lengths])


@pytest.mark.parametrize("post_vote", [False, True])
def test_padding_words_and_sentences_does_not_change_outputs_and_attention_sums_to_one(post_vote):
    torch.manual_seed(0)
    net = HierarchicalAttentionNetwork(torch.randn(50, 6), n_tokens=30, n_themes=4, n_sentiments=4, trainable_dim=4,
                                       word_hidden=5, sentence_hidden=5, attention_dim=4, dropout=0.0,
                                       post_vote=post_vote).eval()
    short, long = _features([3, 2], 1), _features([7, 1, 9, 4, 6], 2)
    alone = net(*pad_posts([short], 128, 1000).args())
    batched = net(*pad_posts([short, long], 128, 1000).args())  # short now has 3 padding sentences, padded words
    assert batched["sentence_theme"].shape[:2] == (2, 5)
    for key in ("post", "attention"):
        assert torch.allclose(alone[key][0], batched[key][0][: alone[key].shape[1]] if key == "attention"
                              else batched[key][0], atol=1e-5), key
    for key in ("sentence_theme", "sentence_sentiment"):
        assert torch.allclose(alone[key][0], batched[key][0, :2], atol=1e-5), key
    assert torch.allclose(batched["attention"].sum(-1), torch.ones(2), atol=1e-5)
    assert batched["attention"][0, 2:].abs().sum() == 0  # padding sentences get no weight
    empty = net(*pad_posts([PostFeatures([])], 128, 1000).args())  # a post without sentences: no NaN
    assert empty["attention"].abs().sum() == 0 and torch.isfinite(empty["post"]).all()


def test_overfitting_io(trained):
    nlp, path = trained
    texts = [text for text, _, _ in POSTS]
    docs = [nlp.get_pipe("posts")(simple_sentence_starts(nlp.make_doc(t))) for t in texts]
    for doc, (_, label, sentiments) in zip(docs, POSTS):
        assert max(doc.cats, key=doc.cats.get) == label
        assert abs(sum(doc.cats.values()) - 1) < 1e-5
        spans = doc._.post_sentences
        assert len(spans) == len(sentiments)
        assert abs(sum(s._.attention for s in spans) - 1) < 1e-5
        for span, sentiment in zip(spans, sentiments):
            cats = span._.cats
            assert max(THEMES, key=cats.get) == label
            assert max(SENTIMENTS, key=cats.get) == sentiment
    loaded = spacy.load(path)
    for text, doc in zip(texts, docs):
        again = loaded.get_pipe("posts")(simple_sentence_starts(loaded.make_doc(text)))
        assert again.cats == pytest.approx(doc.cats, abs=2e-3)  # fp16 storage
        for a, b in zip(again._.post_sentences, doc._.post_sentences):
            assert a._.cats == pytest.approx(b._.cats, abs=2e-3) and a._.attention == pytest.approx(b._.attention, abs=2e-3)
    assert (path / "posts" / "post_model.pt").stat().st_size < 200_000  # the frozen vectors are not saved


def test_pipe_equals_call_and_a_single_sentence_or_empty_doc_works(trained):
    nlp, _ = trained
    texts = [text for text, _, _ in POSTS] + ["とても楽しかったです。", "", "😀😀😀"]
    piped = list(nlp.pipe(texts, batch_size=3))
    for text, doc in zip(texts, piped):
        one = nlp(text)
        assert one.cats == pytest.approx(doc.cats, abs=1e-5)
        assert len(one._.post_sentences) == len(doc._.post_sentences)
        for a, b in zip(one._.post_sentences, doc._.post_sentences):  # batching changes the last float digits only
            assert (a.start_char, a.end_char) == (b.start_char, b.end_char)
            assert a._.cats == pytest.approx(b._.cats, abs=1e-5) and a._.attention == pytest.approx(b._.attention, abs=1e-5)
    single = nlp("とても楽しかったです。")  # no sentence annotation: the whole Doc is one sentence
    (span,) = single._.post_sentences
    assert span._.attention == pytest.approx(1.0) and span.text == single.text
    empty = nlp("")
    assert empty.cats == {t: 0.25 for t in THEMES} and empty._.post_sentences == []
    assert nlp("清水寺に行きました。")[0:2]._.cats is None  # only the sentences read have results


def test_a_bad_jsonl_line_is_a_one_line_error_naming_file_and_line(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text(json.dumps({"text": "京都に行った。", "label": "京都観光"}, ensure_ascii=False) + "\n"
                    + '{"text": "no label"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"posts\.jsonl:2: 'label'") as err:
        read_posts_jsonl(path)
    assert "\n" not in str(err.value)
    (tmp_path / "broken.jsonl").write_text('{"text": "a", "label": "b"}\n{oops\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["train-posts", "models/configs/posts.cfg", "--out", str(tmp_path / "m"),
                                      "--train", str(tmp_path / "broken.jsonl"), "--dev", str(path)])
    assert result.exit_code != 0
    message = result.output.strip()
    assert "broken.jsonl:2: not a JSON object" in message and len(message.splitlines()) == 1
    assert not (tmp_path / "m" / "config.cfg").exists()


def test_process_documents_writes_a_row_per_post_and_per_sentence(trained, tmp_path):
    _, path = trained
    inputs = tmp_path / "posts.jsonl"
    rows = [{"text": POSTS[0][0], "id": "a"}, {"text": 5}, {"text": POSTS[1][0], "id": "b"}]
    inputs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    options = AnnotateOptions(model=str(path), documents=True, sentences=True)
    summary = process([str(inputs)], out, options, progress=False)
    assert (summary.records, summary.failed) == (3, 1)  # the record without a text string is in the errors file
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    posts = [r for r in written if r["level"] == "post"]
    assert [r["id"] for r in posts] == ["a", "b"] and [r["theme"] for r in posts] == ["京都観光", "携帯電話"]
    sentences = [r for r in written if r["level"] == "sentence" and r["doc_id"] == posts[0]["doc_id"]]
    assert [r["sentence_index"] for r in sentences] == [0, 1, 2]
    assert "".join(r["text"] for r in sentences) == POSTS[0][0]
    assert POSTS[0][0][sentences[1]["start_char"]:sentences[1]["end_char"]] == sentences[1]["text"]
    assert sum(r["attention"] for r in sentences) == pytest.approx(1.0, abs=1e-4)
    assert {r["sentiment"] for r in sentences} <= set(SENTIMENTS)
    assert len(summary.errors_path.read_text(encoding="utf-8").splitlines()) == 1
    with pytest.raises(ModelError, match="knbc_post_classifier"):
        process([str(inputs)], tmp_path / "x.jsonl", AnnotateOptions(model="models/theme", documents=True),
                progress=False)


def test_train_posts_on_user_jsonl_saves_a_pipeline_that_spacy_loads(tmp_path):
    rows = [{"text": text, "label": label} for text, label, _ in POSTS]
    for name in ("train", "dev"):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                encoding="utf-8")
    tiny = [f"components.posts.model.{k}={v}" for k, v in TINY.items() if not k.startswith("@")]
    result = CliRunner().invoke(app, ["train-posts", "models/configs/posts.cfg", "--out", str(tmp_path / "m"),
                                      "--train", str(tmp_path / "train.jsonl"), "--dev", str(tmp_path / "dev.jsonl"),
                                      "--quiet", "--set", "training.max_epochs=2",
                                      *[arg for item in tiny for arg in ("--set", item)]])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["labels"]["themes"] == sorted(THEMES) and metrics["data"]["n_train"] == 4
    assert metrics["model"]["word_hidden"] == 8 and len(metrics["history"]) == 2
    doc = spacy.load(tmp_path / "m")("京都に行った。")
    assert sorted(doc.cats) == sorted(THEMES)


def test_results_table_has_every_model_and_the_targets():
    from pipeline.evaluation.posts import results_markdown, summarize

    def scores(acc):
        return {"accuracy": acc, "macro_f1": acc - 0.1, "per_class_f1": {t: acc for t in THEMES}}

    def sentiment(f1):
        return {"accuracy": f1, "macro_f1": f1, "per_class_f1": {s: f1 for s in SENTIMENTS}}

    folds = [{"run": f"fold{k}", "han": {"post": scores(0.9 + k / 100), "sentence_theme": scores(0.95),
                                          "sentiment": sentiment(0.4), "best_epoch": 3, "train_seconds": 1.0},
              "naive_vote": {"post": scores(0.9), "sentence_theme": scores(0.8), "sentence_alone": scores(0.7)},
              "tfidf_lr_post": {"post": scores(0.85), "sentence_theme": scores(0.8)},
              "mean_vectors_lr_post": {"post": scores(0.8), "sentence_theme": scores(0.8)},
              "mean_vectors_lr_sentence": {"sentiment": sentiment(0.35)},
              "tfidf_lr_sentence": {"sentiment": sentiment(0.3)}} for k in range(2)]
    summary = summarize(folds, {"bilstm_attention": {"fold0": {"macro_f1": 0.4, "accuracy": 0.6,
                                                               "per_class_f1": {s: 0.4 for s in SENTIMENTS}}}})
    assert summary["han"]["post_accuracy"]["mean"] == pytest.approx(0.905)
    assert summary["han"]["post_accuracy"]["std"] == pytest.approx(0.005)
    assert summary["stored_bilstm_attention"]["sentiment_macro_f1"]["n"] == 1
    table = results_markdown({"summary": summary, "folds": folds, "seconds": 60.0})
    assert "0.905 ± 0.005" in table and "naive vote" in table and "≥ 0.97" in table
    assert "| fold0 | 0.900 |" in table and "| fold1 | 0.910 |" in table


def test_a_thousand_sentences_emoji_only_and_over_sudachis_limit_give_results(trained):
    from pipeline.tokenizer import SUDACHI_MAX_BYTES

    nlp, _ = trained
    post = nlp.get_pipe("posts")
    many = post(simple_sentence_starts(nlp.make_doc("京都に行った。" * 1200)))
    assert len(many._.post_sentences) == 1000  # max_sentences: the rest are not read
    assert sum(s._.attention for s in many._.post_sentences) == pytest.approx(1.0, abs=1e-4)
    assert list(many.sents)[1000]._.cats is None
    for text in ("😀😀😀", "句読点のない長い文" * 3, "あ" * (SUDACHI_MAX_BYTES // 3 + 10)):
        doc = post(simple_sentence_starts(nlp.make_doc(text)))
        assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5) and doc._.post_sentences


def test_the_shipped_post_model_assembles_with_the_sentence_classifiers(tmp_path):
    from pathlib import Path

    import pipeline
    from pipeline.training.train import assemble

    root = Path(__file__).resolve().parents[1]
    if not (root / "models" / "posts").is_dir():
        pytest.skip("models/posts is not in this checkout")
    assemble([root / "models" / "theme", root / "models" / "posts"], tmp_path / "knbc")
    nlp = pipeline.load(tmp_path / "knbc")
    assert nlp.pipe_names[-2:] == ["theme", "posts"]
    text = "清水寺に行きました。紅葉がとてもきれいでした。お寺の庭も見事でした。また京都に来たいです。"
    doc = nlp(text)  # the pipeline's sentence splitter gives the post its sentences
    assert max(doc.cats, key=doc.cats.get) == "京都観光"
    assert len(doc._.post_sentences) == 4
    assert sum(s._.attention for s in doc._.post_sentences) == pytest.approx(1.0, abs=1e-5)
    post = doc.cats
    sentence_only = nlp.select_pipes(disable=["posts"])
    with sentence_only:
        assert nlp(text).cats != post  # the post's theme was written over the sentence classifier's
        one = nlp("紅葉がとてもきれいでした。").cats
    assert nlp("紅葉がとてもきれいでした。").cats == one  # one sentence: the sentence classifier's theme stays


def test_a_one_sentence_doc_reuses_the_sentence_classifiers_cats_and_skips_the_network(trained):
    nlp, _ = trained
    posts = nlp.get_pipe("posts")
    sentence_cats = {**{t: 0.1 for t in THEMES[:-1]}, THEMES[-1]: 0.7, **{s: 0.25 for s in SENTIMENTS}}

    class Untouchable(torch.nn.Module):
        def forward(self, *args):
            raise AssertionError("the network ran on a one-sentence Doc")

    network, posts.network = posts.network, Untouchable()
    try:
        doc = nlp.make_doc("紅葉がとてもきれいでした。")
        doc.cats = dict(sentence_cats)
        doc = posts(doc)
        (span,) = doc._.post_sentences
        assert span._.cats == pytest.approx(sentence_cats) and span._.attention == 1.0
        assert doc.cats == pytest.approx(sentence_cats)
        partial = nlp.make_doc("紅葉がとてもきれいでした。")
        partial.cats = {t: 0.25 for t in THEMES}  # no sentiment scores: the network must run
        with pytest.raises(AssertionError, match="the network ran"):
            posts(partial)
        two = simple_sentence_starts(nlp.make_doc("清水寺に行きました。紅葉がきれいでした！"))
        two.cats = dict(sentence_cats)
        with pytest.raises(AssertionError, match="the network ran"):  # two sentences: context to read
            posts(two)
        posts.reuse_sentence_cats = False
        with pytest.raises(AssertionError, match="the network ran"):
            posts(doc)
    finally:
        posts.network, posts.reuse_sentence_cats = network, True
