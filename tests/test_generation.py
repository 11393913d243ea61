"""Generators: overfit a handful of pairs, save and reload through spaCy, and the bad-input cases."""

import pytest
import spacy
import torch

from pipeline.ginza import blank_japanese
from pipeline.models.generator import (
    Decoding,
    GenerationError,
    GeneratorFolderError,
    LanguageModelGenerator,
    Seq2SeqGenerator,
    load_generator,
)
from pipeline.models.vocabulary import Vocabulary
from pipeline.training.generation import (
    GenerationSettings,
    LMOptions,
    Seq2SeqOptions,
    article_streams,
    lm_nll,
    seq2seq_dev_scores,
    train_language_model,
    train_seq2seq,
)

torch.set_num_threads(1)
SENTENCES = ["京都の紅葉がきれいでした。", "ラーメンがおいしかった。", "新しいケータイを買った。", "野球の試合を見た。"]
TINY = Seq2SeqOptions(hidden_size=48, dropout=0.0, min_count=1, pretrained=False)
FAST = GenerationSettings(max_epochs=80, patience=80, batch_size=4, learn_rate=0.01)


@pytest.fixture(scope="module")
def trained():
    from pipeline.models.vocabulary import keyword_pairs

    nlp = blank_japanese()
    docs = list(nlp.tokenizer.pipe(SENTENCES))
    records = [type("R", (), {"sid": str(i), "theme": "グルメ"})() for i in range(len(docs))]
    pairs = keyword_pairs(records, docs)
    model, vocab, result = train_seq2seq(pairs, pairs, TINY, FAST, progress=False)
    return Seq2SeqGenerator(model, vocab, TINY, "keywords"), pairs


def test_overfit_and_reload_through_spacy(trained, tmp_path):
    generator, pairs = trained
    for pair in pairs:
        assert generator.generate(pair.source, Decoding(method="greedy")).tokens == pair.target
    nlp = blank_japanese()
    nlp.add_pipe("knbc_generator", config={"method": "greedy"}).set_generator(generator)
    doc = nlp("京都 紅葉 きれい")
    assert doc._.generated == "京都の紅葉がきれいでした。"
    nlp.to_disk(tmp_path)
    reloaded = spacy.load(tmp_path)
    assert reloaded("京都 紅葉 きれい")._.generated == doc._.generated
    assert [d._.generated for d in reloaded.pipe(["京都 紅葉 きれい", "ラーメン おいしい"])] == [
        doc._.generated, nlp("ラーメン おいしい")._.generated]


def test_attention_is_exposed_and_normalised(trained):
    generator, pairs = trained
    nlp = blank_japanese()
    nlp.add_pipe("knbc_generator").set_generator(generator)
    attention = nlp("京都 紅葉 きれい")._.attention
    assert attention["source"] == ["京都", "紅葉", "きれい"]
    assert len(attention["weights"]) == len(attention["target"])
    for row in attention["weights"]:
        assert len(row) == 3 and sum(row) == pytest.approx(1.0, abs=1e-5)


def test_beam_equals_greedy_at_size_one(trained):
    generator, pairs = trained
    for pair in pairs:
        greedy = generator.generate(pair.source, Decoding(method="greedy"))
        beam = generator.generate(pair.source, Decoding(method="beam", beam_size=1, length_penalty=0.0))
        assert beam.tokens == greedy.tokens


def test_bad_inputs(trained):
    generator, _ = trained
    nlp = blank_japanese()
    nlp.add_pipe("knbc_generator").set_generator(generator)
    for text in ["", "。、！", "の が を"]:  # empty, symbols only, no content words
        with pytest.warns(UserWarning, match="nothing to generate from"):
            assert nlp(text)._.generated == ""
    unknown = nlp("量子 重力 超弦")  # content words the model never saw: still a sentence, bounded length
    assert isinstance(unknown._.generated, str) and len(unknown._.attention["target"]) <= 60
    with pytest.warns(UserWarning, match="cut to the first"):
        generator.generate(["京都"] * 500, Decoding(method="greedy", max_length=5))
    for bad in (Decoding(beam_size=0), Decoding(beam_size=1000), Decoding(max_length=0), Decoding(max_length=10**6),
                Decoding(method="nucleus"), Decoding(method="sample", temperature=0), Decoding(top_p=1.5)):
        with pytest.raises(GenerationError):
            generator.generate(["京都"], bad)
    with pytest.raises(GenerationError, match="not a generator folder"):
        load_generator("/nonexistent")


def test_generation_always_terminates(trained):
    generator, _ = trained
    out = generator.generate(["京都"], Decoding(method="sample", max_length=7, temperature=5.0, seed=3))
    assert len(out.tokens) <= 7
    again = generator.generate(["京都"], Decoding(method="sample", max_length=7, temperature=5.0, seed=3))
    assert again.tokens == out.tokens  # a seed makes sampling repeatable


def test_language_model_learns_and_reloads(tmp_path):
    articles = [[["京都", "の", "紅葉", "が", "きれい"], ["また", "行き", "たい"]]] * 3
    vocab = Vocabulary.build((s for a in articles for s in a), min_count=1)
    streams = article_streams(articles, ["京都観光"] * 3, vocab)
    options = LMOptions(embed_dim=32, hidden_size=32, dropout=0.0, min_count=1, bptt=5, pretrained=False)
    settings = GenerationSettings(max_epochs=60, patience=60, batch_size=2, learn_rate=0.02)
    model, result = train_language_model(streams, streams, vocab, options, settings, progress=False)
    assert result.history[-1]["dev"] > result.history[0]["dev"]  # log-likelihood rose
    generator = LanguageModelGenerator(model, vocab, options)
    out = generator.generate(["京都", "の"], Decoding(method="greedy", max_length=10), theme="京都観光")
    assert out.text.startswith("京都の紅葉")
    generator.save(tmp_path)
    again = load_generator(tmp_path).generate(["京都", "の"], Decoding(method="greedy", max_length=10), theme="京都観光")
    assert again.tokens == out.tokens
    with pytest.raises(GenerationError, match="theme must be one of"):
        generator.generate([], theme="宇宙")
    nlp = blank_japanese()
    nlp.add_pipe("knbc_generator", config={"method": "greedy", "max_length": 10}).set_generator(generator)
    doc = nlp("京都の")
    assert doc._.generated.startswith("紅葉") and doc._.attention is None
    nlp.to_disk(tmp_path / "pipeline")
    assert spacy.load(tmp_path / "pipeline")("京都の")._.generated == doc._.generated


def test_scoring_leaves_the_model_in_its_mode_so_decoding_stays_deterministic(trained):
    """Perplexity is scored in eval mode and the model is put back as it was: a generator scored
    before decoding (as ``knbc evaluate-generation`` does) must not decode with dropout on."""
    _, pairs = trained
    options = Seq2SeqOptions(hidden_size=16, dropout=0.5, min_count=1, pretrained=False)
    model, vocab, _ = train_seq2seq(pairs, pairs, options, GenerationSettings(max_epochs=1), progress=False)
    generator = Seq2SeqGenerator(model, vocab, options, "keywords")
    for training in (False, True):
        model.train(training)
        first = seq2seq_dev_scores(model, vocab, pairs, options)
        assert model.training is training
        assert seq2seq_dev_scores(model, vocab, pairs, options) == first  # no dropout while scoring
    model.eval()
    seq2seq_dev_scores(model, vocab, pairs, options)
    sampled = Decoding(method="sample", seed=3, max_length=8)
    outputs = {tuple(generator.generate(pairs[0].source, sampled).tokens) for _ in range(5)}
    assert len(outputs) == 1  # same seed, no dropout: the same sentence every time

    articles = [[["京都", "の", "紅葉"], ["また", "行き", "たい"]]] * 2
    lm_vocab = Vocabulary.build((s for a in articles for s in a), min_count=1)
    streams = article_streams(articles, ["京都観光"] * 2, lm_vocab)
    lm_options = LMOptions(embed_dim=8, hidden_size=8, dropout=0.5, min_count=1, bptt=4, pretrained=False)
    lm, _ = train_language_model(streams, streams, lm_vocab, lm_options, GenerationSettings(max_epochs=1),
                                 progress=False)
    for training in (False, True):
        lm.train(training)
        first = lm_nll(lm, streams, 2, 4)
        assert lm.training is training and lm_nll(lm, streams, 2, 4) == first


class CountingGenerator:
    """A generator stand-in that counts its calls and passes them on."""

    def __init__(self, generator):
        self.generator, self.calls = generator, 0

    def __getattr__(self, name):
        return getattr(self.generator, name)

    def generate(self, *args, **kwargs):
        self.calls += 1
        return self.generator.generate(*args, **kwargs)


def test_generation_runs_only_when_generated_is_read_and_once_per_doc(trained):
    generator, _ = trained
    counting = CountingGenerator(generator)
    nlp = blank_japanese()
    nlp.add_pipe("knbc_generator", config={"method": "greedy"}).set_generator(counting)
    docs = list(nlp.pipe(["京都 紅葉 きれい", "ラーメン おいしい", "野球 試合"]))
    assert counting.calls == 0
    assert docs[0]._.generated == "京都の紅葉がきれいでした。"
    assert docs[0]._.attention["source"] == ["京都", "紅葉", "きれい"]
    assert counting.calls == 1  # the attention came with the text, and both are cached

    eager = blank_japanese()
    eager.add_pipe("knbc_generator", config={"method": "greedy", "lazy": False}).set_generator(counting)
    eager_docs = list(eager.pipe(["京都 紅葉 きれい", "ラーメン おいしい"]))
    assert counting.calls == 3
    assert [d._.generated for d in eager_docs] == [docs[0]._.generated, docs[1]._.generated]


def test_lazily_generated_text_survives_serialisation_of_the_doc(trained):
    import pickle

    from spacy.tokens import Doc

    generator, _ = trained
    nlp = blank_japanese()
    nlp.add_pipe("knbc_generator", config={"method": "greedy"}).set_generator(generator)
    doc = nlp("京都 紅葉 きれい")
    for copy in (pickle.loads(pickle.dumps(doc)), Doc(nlp.vocab).from_bytes(doc.to_bytes())):
        assert copy._.generated == "京都の紅葉がきれいでした。"  # not generated yet: the copy asks the component
    read = nlp("京都 紅葉 きれい")
    assert read._.generated and Doc(nlp.vocab).from_bytes(read.to_bytes())._.generated == read._.generated
    assert blank_japanese()("京都")._.generated is None  # no generator ran on it


def test_continuation_source_is_the_theme_and_the_last_sentence_of_the_text():
    from pipeline.corpus.labels import theme_from_cats
    from pipeline.models.generator import continuation_tokens

    def source(doc, max_tokens=None):
        return continuation_tokens([t.text for t in doc], theme_from_cats(doc.cats), max_tokens)

    nlp = blank_japanese()
    doc = nlp("携帯を買った話。昨日は京都に行った。\n紅葉がとてもきれいだった")
    doc.cats = {"携帯電話": 0.1, "京都観光": 0.9}
    assert source(doc) == ["<京都観光>"] + [t.text for t in nlp("紅葉がとてもきれいだった")]
    two_sentences = nlp("携帯を買った話。昨日は京都に行った！")
    assert source(two_sentences) == [t.text for t in nlp("昨日は京都に行った！")]
    assert source(doc, max_tokens=3) == ["<京都観光>"] + [t.text for t in nlp("紅葉がとてもきれいだった")][-2:]
    assert source(nlp("")) == []


def test_theme_from_cats_is_the_best_scored_theme_else_the_default():
    from pipeline.corpus.labels import DEFAULT_THEME, theme_from_cats

    assert theme_from_cats({"positive": 0.9, "携帯電話": 0.3, "グルメ": 0.6}) == "グルメ"
    assert theme_from_cats({"positive": 0.9}) is None
    assert theme_from_cats({}, DEFAULT_THEME) == DEFAULT_THEME


GENERATE_N_PROCESS_SCRIPT = """
import json, multiprocessing, sys
import spacy
if __name__ == "__main__":
    nlp = spacy.load(sys.argv[1])
    texts = json.loads(sys.argv[2]) * 4
    single = [doc._.generated for doc in nlp.pipe(texts)]
    for method in ("fork", "spawn"):
        multiprocessing.set_start_method(method, force=True)
        for lazy in (True, False):
            nlp.get_pipe("knbc_generator").lazy = lazy
            assert [doc._.generated for doc in nlp.pipe(texts, n_process=2, batch_size=2)] == single, (method, lazy)
        print(method, "ok", flush=True)
"""


def test_generated_text_comes_back_from_worker_processes_lazy_or_eager(trained, tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys

    generator, _ = trained
    nlp = blank_japanese()
    nlp.add_pipe("knbc_generator", config={"method": "greedy"}).set_generator(generator)
    nlp.to_disk(tmp_path / "model")
    script = tmp_path / "generate_n_process.py"
    script.write_text(GENERATE_N_PROCESS_SCRIPT, encoding="utf-8")
    texts = json.dumps(["京都 紅葉 きれい", "ラーメン おいしい"], ensure_ascii=False)
    run = subprocess.Popen([sys.executable, str(script), str(tmp_path / "model"), texts],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:  # a deadlocked worker must fail the test, not hang the suite
        stdout, stderr = run.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        pytest.fail(f"nlp.pipe(n_process=2) hung; it printed: {run.communicate()[0]!r}")
    assert run.returncode == 0, stderr[-3000:]
    assert stdout.split() == ["fork", "ok", "spawn", "ok"]


def test_a_tuned_decoding_is_saved_with_the_generator_and_used_by_assemble_and_generate(trained, tmp_path):
    import json

    from pipeline.api import TextGenerator
    from pipeline.evaluation.generation import choose_decoding
    from pipeline.training.train import assemble

    generator, pairs = trained
    candidates = {"greedy": Decoding(method="greedy"), "beam 3": Decoding(beam_size=3, length_penalty=1.5)}
    label, chosen, scores = choose_decoding(generator, pairs, candidates)
    assert set(scores) == set(candidates) and scores[label] == max(scores.values()) and chosen == candidates[label]
    generator.decoding = Decoding(beam_size=3, length_penalty=1.5, no_repeat_ngram=3)
    generator.save(tmp_path / "gen")
    assert load_generator(tmp_path / "gen").decoding == generator.decoding
    nlp = spacy.load(assemble([tmp_path / "gen"], tmp_path / "pipeline"))
    assert nlp.get_pipe("generator_keywords").decoding == generator.decoding
    assert TextGenerator(tmp_path / "gen").decoding == generator.decoding
    assert TextGenerator(tmp_path / "gen", overrides={"beam_size": 5}).decoding.beam_size == 5
    meta = json.loads((tmp_path / "gen" / "generator.json").read_text(encoding="utf-8"))
    meta["decoding"]["beam_size"] = 0
    (tmp_path / "gen" / "generator.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(GeneratorFolderError, match=r"generator.json: its \"decoding\" is not a valid decoding: beam_size"):
        load_generator(tmp_path / "gen")
