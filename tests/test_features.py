"""pipeline.models.features (GiNZA Docs -> index arrays and tensors) and pipeline.nn.embedding."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from pipeline.models.features import (
    COVERAGE_STAGES,
    NO_VECTOR,
    PAD_ID,
    DocFeatures,
    FeatureExtractor,
    HashedTokenIds,
    VectorLookup,
    vector_coverage,
    vectors_table,
)
from pipeline.nn import StaticPlusTrainableEmbedding


@pytest.fixture(scope="module")
def nlp():
    from pipeline.ginza import load_ginza

    return load_ginza(tokenizer_only=True)


@pytest.fixture(scope="module")
def lookup(nlp):
    return VectorLookup(nlp.vocab)


def vec_row(nlp, string: str) -> int:
    """The row of ``string`` through spaCy's own API (the reference the lookup must agree with)."""
    return int(nlp.vocab.vectors.find(key=string))


def tok(doc, text):
    (token,) = [t for t in doc if t.text == text]
    return token


# --- vector lookup ---------------------------------------------------------------------------------


def test_norm_fallback_finds_a_vector_text_and_lemma_miss(nlp, lookup):
    doc = nlp("ケータイはおいしい")
    assert [t.text for t in doc] == ["ケータイ", "は", "おいしい"]
    keitai, oishii = tok(doc, "ケータイ"), tok(doc, "おいしい")
    # the data: neither text nor lemma has a vector, the normalized form has one
    assert (keitai.lemma_, keitai.norm_) == ("ケータイ", "携帯")
    assert vec_row(nlp, "ケータイ") == -1 and vec_row(nlp, "携帯") >= 0
    assert oishii.norm_ == "美味しい" and vec_row(nlp, "おいしい") == -1 and vec_row(nlp, "美味しい") >= 0
    assert lookup.row(keitai) == vec_row(nlp, "携帯")
    assert lookup.row(oishii) == vec_row(nlp, "美味しい")
    assert lookup.stage(keitai) == (2, vec_row(nlp, "携帯"))
    assert lookup.rows(doc).tolist() == [vec_row(nlp, "携帯"), vec_row(nlp, "は"), vec_row(nlp, "美味しい")]
    # text only: the two content words are lost
    assert VectorLookup(nlp.vocab, ("text",)).rows(doc).tolist() == [-1, vec_row(nlp, "は"), -1]


def test_lemma_fallback_for_an_inflected_verb(nlp, lookup):
    tabe = tok(nlp("昨日ラーメンを食べました"), "食べ")
    assert tabe.lemma_ == "食べる" and vec_row(nlp, "食べ") == -1 and vec_row(nlp, "食べる") >= 0
    assert lookup.stage(tabe) == (1, vec_row(nlp, "食べる"))


def test_text_comes_before_lemma_and_lemma_before_norm(nlp, lookup):
    doc = nlp("書かれていた本を読んだ")
    i = tok(doc, "い")  # text, lemma いる and norm 居る all have (different) vectors
    assert (i.lemma_, i.norm_) == ("いる", "居る")
    assert len({vec_row(nlp, "い"), vec_row(nlp, "いる"), vec_row(nlp, "居る")}) == 3
    assert lookup.row(i) == vec_row(nlp, "い")
    assert VectorLookup(nlp.vocab, ("lemma", "norm")).row(i) == vec_row(nlp, "いる")
    assert VectorLookup(nlp.vocab, ("norm",)).row(i) == vec_row(nlp, "居る")
    da = tok(doc, "だ")  # lemma だ and norm た have different vectors: the lemma wins
    da_lookup = VectorLookup(nlp.vocab, ("lemma", "norm"))
    assert (da.lemma_, da.norm_) == ("だ", "た") and vec_row(nlp, "だ") != vec_row(nlp, "た")
    assert da_lookup.row(da) == vec_row(nlp, "だ")


def test_lookup_of_unknown_strings_adds_nothing(nlp, lookup):
    strings = nlp.vocab.strings
    before = len(strings)
    novel = "ぜったいにないもじれつ" + "ゑ" * 7
    assert novel not in strings
    assert lookup.string_row(novel) == NO_VECTOR
    assert lookup.string_row("") == NO_VECTOR
    assert novel not in strings and len(strings) == before
    with pytest.raises(ValueError):
        VectorLookup(nlp.vocab, ("text", "reading"))


def test_vector_coverage_on_a_known_sentence(nlp):
    doc = nlp("ケータイはおいしい")
    coverage = vector_coverage([doc])
    assert tuple(coverage) == COVERAGE_STAGES
    assert coverage == pytest.approx({"text": 1 / 3, "text+lemma": 1 / 3, "text+lemma+norm": 1.0})
    assert vector_coverage([]) == {stage: 0.0 for stage in COVERAGE_STAGES}
    assert vector_coverage([nlp("")], vocab=nlp.vocab) == {stage: 0.0 for stage in COVERAGE_STAGES}


@pytest.fixture(scope="module")
def corpus_docs(nlp):
    from pipeline.corpus import shipped_corpus

    sentences = shipped_corpus().sentences[:300]
    return list(nlp.pipe([s.text for s in sentences]))


def test_coverage_on_corpus_sentences(corpus_docs):
    coverage = vector_coverage(corpus_docs)
    text, text_lemma, full = (coverage[stage] for stage in COVERAGE_STAGES)
    assert 0.5 < text <= text_lemma <= full
    assert text_lemma > text and full > text_lemma
    assert full > 0.95
    no_space = vector_coverage(corpus_docs, skip_space=True)
    assert no_space["text+lemma+norm"] >= full


def test_doc_rows_agree_with_spacys_string_lookup_token_by_token(nlp, corpus_docs):
    """The fast path (hashes out of Doc.to_array) against Vectors.find on each token's strings."""
    lookup = VectorLookup(nlp.vocab)

    def reference(token):
        for string in (token.text, token.lemma_, token.norm_):
            if string and vec_row(nlp, string) != NO_VECTOR:
                return vec_row(nlp, string)
        return NO_VECTOR

    n_tokens = 0
    for doc in corpus_docs:
        expected = [reference(token) for token in doc]
        assert lookup.rows(doc).tolist() == expected
        assert [lookup.row(token) for token in doc] == expected
        assert HashedTokenIds(97).ids(doc).tolist() == [nlp.vocab.strings[t.norm_] % 97 + 1 for t in doc]
        n_tokens += len(doc)
    assert n_tokens > 3000
    assert lookup.rows(nlp("")).shape == (0,)


# --- FeatureExtractor and batches ------------------------------------------------------------------


def test_hashed_token_ids_are_the_norms_hash_in_buckets_and_never_padding(nlp):
    docs = [nlp("ケータイと携帯"), nlp("そこに行く")]
    ids = HashedTokenIds(50)
    assert len(ids) == 51
    # keyed by the normalized form: ケータイ and 携帯 get one id
    assert ids.ids(docs[0])[0] == ids.ids(docs[0])[2]
    for doc in docs:
        assert ((ids.ids(doc) >= 1) & (ids.ids(doc) <= 50)).all() and ids.ids(doc).dtype == np.int64
    with pytest.raises(ValueError):
        HashedTokenIds(0)


def test_extractor_features_of_one_doc(nlp, extractor):
    doc = nlp("そこに行く")
    features = extractor.doc_features(doc)
    assert isinstance(features, DocFeatures) and len(features) == len(doc)
    assert features.vector_rows.dtype == np.int64 and features.token_ids.dtype == np.int64
    assert features.vector_rows[0] == NO_VECTOR  # そこ has no vector in ja_ginza
    assert features.token_ids.tolist() == HashedTokenIds(97).ids(doc).tolist()
    assert extractor.n_tokens == 98


@pytest.fixture(scope="module")
def extractor(nlp):
    return FeatureExtractor(nlp.vocab, HashedTokenIds(97))


def test_batch_shapes_masks_and_empty_doc(nlp, extractor):
    docs = [nlp("ケータイはおいしい"), nlp(""), nlp("そこ"), nlp("未知語ぴゃらら")]
    assert len(docs[1]) == 0
    batch = extractor.batch(docs)
    n = [len(d) for d in docs]
    width = max(n)
    assert batch.vector_rows.shape == batch.token_ids.shape == batch.mask.shape == (4, width)
    assert batch.vector_rows.dtype == batch.token_ids.dtype == batch.lengths.dtype == torch.long
    assert batch.mask.dtype == torch.bool and len(batch) == 4
    assert batch.lengths.tolist() == n
    assert batch.mask.sum(1).tolist() == n
    assert not batch.mask[1].any()
    for i, doc in enumerate(docs):
        features = extractor.doc_features(doc)
        assert batch.vector_rows[i, : n[i]].tolist() == features.vector_rows.tolist()
        assert batch.token_ids[i, : n[i]].tolist() == features.token_ids.tolist()
        assert (batch.vector_rows[i, n[i] :] == NO_VECTOR).all()
        assert (batch.token_ids[i, n[i] :] == PAD_ID).all()
    assert (batch.token_ids[batch.mask] >= 1).all()
    assert batch.vector_rows[0, :3].tolist() == extractor.lookup.rows(docs[0]).tolist()
    # precomputed features give the same batch
    same = extractor.batch([extractor.doc_features(d) for d in docs])
    assert torch.equal(same.vector_rows, batch.vector_rows) and torch.equal(same.token_ids, batch.token_ids)


def test_batch_of_empty_docs_and_of_nothing(nlp, extractor):
    batch = extractor.batch([nlp(""), nlp("")])
    assert batch.vector_rows.shape == (2, 1) and batch.lengths.tolist() == [0, 0]
    assert not batch.mask.any() and (batch.token_ids == PAD_ID).all() and (batch.vector_rows == NO_VECTOR).all()
    nothing = extractor.batch([])
    assert nothing.token_ids.shape == (0, 1) and nothing.lengths.shape == (0,) and nothing.mask.shape == (0, 1)


def test_truncation_keeps_the_first_tokens(nlp, extractor):
    docs = [nlp("ケータイはおいしい"), nlp(""), nlp("そこ")]
    full = extractor.batch(docs)
    cut = extractor.batch(docs, max_length=2)
    assert cut.token_ids.shape == (3, 2)
    assert cut.lengths.tolist() == [2, 0, 1]
    assert cut.mask.sum(1).tolist() == [2, 0, 1]
    assert torch.equal(cut.vector_rows, full.vector_rows[:, :2])
    assert torch.equal(cut.token_ids, full.token_ids[:, :2])
    roomy = extractor.batch(docs, max_length=50)
    assert torch.equal(roomy.token_ids, full.token_ids) and torch.equal(roomy.lengths, full.lengths)
    with pytest.raises(ValueError):
        extractor.batch(docs, max_length=0)


def test_vectors_table_is_a_float_copy(nlp):
    table = vectors_table(nlp.vocab)
    data = nlp.vocab.vectors.data
    assert table.dtype == torch.float32 and tuple(table.shape) == tuple(data.shape) == (20000, 300)
    row = vec_row(nlp, "携帯")
    assert np.array_equal(table[row].numpy(), np.asarray(data[row], dtype=np.float32))
    table[row] += 1.0
    assert not np.array_equal(table[row].numpy(), np.asarray(data[row], dtype=np.float32))


# --- embedding ---------------------------------------------------------------------------------------


@pytest.fixture
def small_vectors():
    torch.manual_seed(0)
    return torch.randn(10, 4)


def test_embedding_shapes_and_static_part(small_vectors):
    emb = StaticPlusTrainableEmbedding(small_vectors, n_tokens=6, trainable_dim=3)
    rows = torch.tensor([[3, -1, 0], [-1, -1, -1]])  # (B=2, T=3): second doc empty
    ids = torch.tensor([[2, 5, 1], [0, 0, 0]])
    out = emb(rows, ids)
    assert out.shape == (2, 3, 7) and emb.output_dim == 7
    assert torch.equal(out[0, 0, :4], small_vectors[3]) and torch.equal(out[0, 2, :4], small_vectors[0])
    assert torch.equal(out[0, 1, :4], torch.zeros(4))  # no vector: zero static part
    assert torch.equal(out[1], torch.zeros(3, 7))  # padding: all zeros
    # the learned no-vector flag is added at real tokens without a vector only
    with torch.no_grad():
        emb.no_vector.fill_(1.0)
    flagged = emb(rows, ids)
    assert torch.allclose(flagged[0, 1, 4:], out[0, 1, 4:] + 1.0)
    assert torch.equal(flagged[0, 0], out[0, 0]) and torch.equal(flagged[1], out[1])
    with pytest.raises(ValueError):
        emb(rows, ids[:, :2])


def test_frozen_vectors_get_no_gradient_and_are_not_saved(small_vectors):
    emb = StaticPlusTrainableEmbedding(small_vectors, n_tokens=6, trainable_dim=3, freeze_vectors=True)
    assert "vectors" not in emb.state_dict()
    assert all(p is not emb.vectors for p in emb.parameters())
    assert not emb.vectors.requires_grad
    rows, ids = torch.tensor([[3, -1, 2]]), torch.tensor([[2, 4, 0]])
    emb(rows, ids).sum().backward()
    assert emb.vectors.grad is None
    assert emb.tokens.weight.grad[2].abs().sum() > 0 and emb.tokens.weight.grad[4].abs().sum() > 0
    assert torch.equal(emb.tokens.weight.grad[0], torch.zeros(3))  # padding row learns nothing
    assert emb.no_vector.grad.abs().sum() > 0
    # a fresh module rebuilt on the vectors loads the saved state strictly
    fresh = StaticPlusTrainableEmbedding(small_vectors, n_tokens=6, trainable_dim=3)
    fresh.load_state_dict(emb.state_dict(), strict=True)
    assert torch.equal(fresh(rows, ids), emb(rows, ids))


def test_fine_tuned_vectors_are_a_saved_parameter(small_vectors):
    emb = StaticPlusTrainableEmbedding(small_vectors, n_tokens=6, trainable_dim=2, freeze_vectors=False)
    assert isinstance(emb.vectors, torch.nn.Parameter) and "vectors" in emb.state_dict()
    emb(torch.tensor([[3, -1]]), torch.tensor([[1, 1]])).sum().backward()
    grad = emb.vectors.grad
    assert grad[3].abs().sum() > 0 and grad[[0, 1, 2, 4]].abs().sum() == 0
    with torch.no_grad():
        emb.vectors[3] += 1
    assert not torch.equal(emb.vectors[3], small_vectors[3])  # a copy, not the caller's tensor


def test_embedding_on_a_real_batch_with_masked_mean(nlp, extractor):
    emb = StaticPlusTrainableEmbedding(vectors_table(nlp.vocab), extractor.n_tokens, trainable_dim=8)
    batch = extractor.batch([nlp("ケータイはおいしい"), nlp("")])
    out = emb(batch.vector_rows, batch.token_ids)  # (B, T, 308)
    assert out.shape == (2, 3, 308)
    pooled = (out * batch.mask.unsqueeze(-1)).sum(1) / batch.lengths.clamp(min=1).unsqueeze(-1)
    assert torch.isfinite(pooled).all() and torch.equal(pooled[1], torch.zeros(308))


def test_nn_does_not_import_spacy():
    code = "import sys, pipeline.nn.embedding, pipeline.nn; assert 'spacy' not in sys.modules, 'spacy imported'"
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
