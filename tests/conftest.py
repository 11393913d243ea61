"""Shared fixtures: the shipped corpus and GiNZA are loaded once per test session."""

import pytest


@pytest.fixture(scope="session")
def corpus():
    from pipeline.corpus import shipped_corpus

    return shipped_corpus()


@pytest.fixture(scope="session")
def sentences_by_id(corpus):
    return {s.sid: s for s in corpus.sentences}


@pytest.fixture(scope="session")
def ginza():
    from pipeline.ginza import load_ginza

    return load_ginza()


@pytest.fixture(scope="session")
def make_lm_folder(tmp_path_factory):
    """A function (texts) -> the folder of a tiny random BiLM saved as `knbc pretrain` saves one, over the
    texts' tokens (GiNZA's tokenizer)."""

    def make(texts):
        import torch

        from pipeline.ginza import blank_japanese
        from pipeline.models.pretrained_lm import BiLMOptions, build_bilm, save_bilm
        from pipeline.models.vocabulary import Vocabulary

        torch.manual_seed(0)
        nlp = blank_japanese()
        vocab = Vocabulary.build([[t.text for t in nlp.make_doc(text)] for text in texts], min_count=1)
        options = BiLMOptions(hidden_size=8, layers=1, trainable_dim=4, vocab_size=len(vocab), cutoffs=[8])
        model = build_bilm(vocab, options, torch.zeros(0, 300))
        return save_bilm(tmp_path_factory.mktemp("lm") / "lm", model, vocab, options)

    return make
