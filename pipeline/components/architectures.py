"""Registered model architectures: pure builders that wrap the torch networks of ``pipeline.nn`` with thinc."""

from __future__ import annotations

from functools import lru_cache
from typing import List, Optional

import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, Softmax_v2, chain
from thinc.types import Floats2d

from pipeline.ginza import GINZA_MODEL, GinzaVectors, ginza_vocab
from pipeline.models.features import DocFeatures, FeatureBatch, FeatureExtractor, HashedTokenIds, vectors_record, vectors_table
from pipeline.nn.text_encoder import RecurrentTextEncoder


def doc_featurizer(n_buckets: int, max_length: int) -> Model[List[Doc], FeatureBatch]:
    """A parameter-free layer: Docs -> FeatureBatch (vector rows + hashed token ids).

    Vectors are looked up in the Docs' own vocab (``doc.vocab.vectors``: the pipeline's, ja_ginza's
    table), by text, then lemma, then normalized form; each Doc keeps its first ``max_length`` tokens.
    """
    return Model("knbc_featurize", _featurize, attrs={"n_buckets": n_buckets, "max_length": max_length})


@lru_cache(maxsize=1)
def ginza_vectors_record() -> dict:
    """The record (name, package version, shape, hash) of the installed ja_ginza vectors the classifiers read."""
    from spacy.util import get_model_meta, get_package_path

    version = get_model_meta(get_package_path(GINZA_MODEL)).get("version")
    return vectors_record(ginza_vocab(), GINZA_MODEL, version)


def pipeline_vectors_record(vocab) -> dict:
    """The record of the vector table in ``vocab`` (a pipeline's): ja_ginza's, with its package version,
    when the pipeline reads the installed ja_ginza (:class:`pipeline.ginza.GinzaVectors`)."""
    return ginza_vectors_record() if isinstance(vocab.vectors, GinzaVectors) else vectors_record(vocab)


def _feature_extractor(vocab, n_buckets: int) -> FeatureExtractor:
    if not vocab.vectors.shape[0]:
        raise ValueError("the Docs' vocab has no vectors: make them with the pipeline that holds the classifier "
                         "(nlp.make_doc, nlp.tokenizer), or give their vocab the same vectors")
    return FeatureExtractor(vocab, HashedTokenIds(n_buckets))


# Layer functions live at module level (no closures), so that a pipeline pickles: spaCy pickles it
# for ``nlp.pipe(n_process=N)`` wherever processes are spawned rather than forked.
FEATURES_KEY = "knbc_features"  # doc.user_data[(FEATURES_KEY, n_buckets)]: that Doc's DocFeatures, as arrays


def doc_features(doc: Doc, n_buckets: int) -> DocFeatures:
    """The vector rows and hashed token ids of every token of ``doc``, computed once per Doc and kept on it.

    Classifiers with the same ``n_buckets`` in one pipeline (theme, sentiment) read the same features:
    the first to see a Doc computes them and stores them in ``doc.user_data`` (plain int64 arrays, so
    that the Doc still serializes), the next reads them back. A Doc whose tokens changed since (a
    retokenized Doc) gets them afresh.
    """
    key = (FEATURES_KEY, n_buckets)
    stored = doc.user_data.get(key)
    if stored is not None and len(stored[0]) == len(doc):
        return DocFeatures(*stored)
    features = _feature_extractor(doc.vocab, n_buckets).doc_features(doc)
    doc.user_data[key] = (features.vector_rows, features.token_ids)
    return features


def _featurize(model: Model, docs: List[Doc], is_train: bool):
    n_buckets, max_length = model.attrs["n_buckets"], model.attrs["max_length"]
    if not docs:
        return FeatureExtractor.padded([], max_length=max_length), _no_input_gradient
    extractor = _feature_extractor(docs[0].vocab, n_buckets)
    if is_train:
        return extractor.batch(docs, max_length=max_length), _no_input_gradient
    return FeatureExtractor.padded([doc_features(doc, n_buckets) for doc in docs], max_length), _no_input_gradient


def _no_input_gradient(d_output) -> list:
    return []


def _batch_to_torch(model: Model, batch: FeatureBatch, is_train: bool):
    args = (batch.vector_rows, batch.token_ids, batch.lengths, batch.mask)
    return ArgsKwargs(args=args, kwargs={}), _no_input_gradient  # integer inputs: no gradient


def _reset_network(model: Model, X=None, Y=None) -> None:
    model.shims[0]._model.reset_parameters()


@registry.architectures("knbc.RNNClassifier.v1")
def build_rnn_classifier(
    cell: str = "lstm",
    bidirectional: bool = True,
    layers: int = 1,
    hidden_size: int = 128,
    dropout: float = 0.3,
    pooling: str = "attention",
    trainable_dim: int = 64,
    n_buckets: int = 20000,
    freeze_vectors: bool = True,
    max_length: int = 512,
    members: int = 1,
    ngram_dim: int = 0,
    word_dropout: float = 0.0,
    vector_dim: int = 300,
    nO: Optional[int] = None,
) -> Model[List[Doc], Floats2d]:
    """A recurrent text classifier: Docs -> class probabilities (B, nO).

    ja_ginza static vectors (frozen or fine-tuned) next to a hashed trainable embedding, a
    ``cell`` (rnn | gru | lstm) encoder, optionally bidirectional and stacked, a pooling (last |
    mean | max | attention), then a softmax layer whose width is set from the labels.

    ``ngram_dim`` > 0 adds a bag of hashed token unigrams and bigrams (their mean embedding, of
    that size) next to the pooled recurrent states. ``word_dropout`` blanks each token with that
    probability during training (whole tokens, where ``dropout`` drops single features).

    With ``members`` > 1 the model is an ensemble of that many such networks (each with its own
    weights, drawn in turn from the seeded RNG) over the same features; its output is the mean of
    their class probabilities, and each member is trained on its own cross-entropy loss (see
    :func:`mean_of_members`).

    The static vectors (``vector_dim`` wide: ja_ginza's are 300) are the pipeline's: the
    ``knbc_textcat`` factory hands its vocab's table to the networks (:func:`use_vectors`).
    """
    if members < 1:
        raise ValueError(f"members must be >= 1, not {members}")
    vectors = torch.zeros(0, vector_dim)  # (rows, dim): no table until use_vectors gives the pipeline's
    heads = []
    for _ in range(members):
        network = RecurrentTextEncoder(
            vectors,
            n_tokens=n_buckets + 1,
            trainable_dim=trainable_dim,
            freeze_vectors=freeze_vectors,
            hidden_size=hidden_size,
            cell=cell,
            layers=layers,
            bidirectional=bidirectional,
            pooling=pooling,
            dropout=dropout,
            ngram_dim=ngram_dim,
            word_dropout=word_dropout,
        )
        encoder = PyTorchWrapper_v2(network, convert_inputs=_batch_to_torch)
        encoder.init = _reset_network  # initialize() draws the weights from the (seeded) torch RNG
        heads.append([encoder, Softmax_v2(nO=nO, nI=network.output_dim)])
    featurizer = doc_featurizer(n_buckets, max_length)
    if members == 1:  # the layout of single-network pipelines saved before ensembles existed
        model = chain(featurizer, *heads[0])
    else:
        model = chain(featurizer, mean_of_members([chain(*head) for head in heads]))
    return model


def use_vectors(model: Model, vocab) -> None:
    """Give the networks of a ``knbc.RNNClassifier.v1`` model the vector table of ``vocab`` (a pipeline's)."""
    table = vectors_table(vocab)  # (rows, dim), one copy shared by the members
    for network in torch_networks(model):
        network.embed.set_vectors(table)


def torch_networks(model: Model) -> list:
    """The torch networks (:class:`RecurrentTextEncoder`) inside a ``knbc.RNNClassifier.v1`` model, one per
    ensemble member, found the thinc way: through the PyTorch shims of its layers."""
    return [shim._model for node in model.walk() for shim in node.shims]


def mean_of_members(members: List[Model]) -> Model:
    """An ensemble layer: the mean of the class probabilities of ``members`` (each ending in a softmax).

    Its backward pass expects the gradient of a textcat loss at the mean, ``mean - truth`` (what
    spaCy's ``TextCategorizer.get_loss`` returns), recovers ``truth`` from it and gives each member
    ``p_member - truth``: every member learns from its own softmax cross-entropy, as if trained alone,
    rather than the members co-adapting to fit the mean.
    """

    return Model("knbc_mean_of_members", _mean_forward, init=_mean_init, layers=members, dims={"nO": None})


def _mean_forward(model: Model, X, is_train: bool):
    outputs, backprops = zip(*(member(X, is_train) for member in model.layers))
    mean = sum(outputs) / len(outputs)  # (B, nO)

    def backprop(d_mean):
        truth = mean - d_mean  # (B, nO)
        for output, member_backprop in zip(outputs, backprops):
            member_backprop(output - truth)
        return []  # the input (features) takes no gradient

    return mean, backprop


def _mean_init(model: Model, X=None, Y=None) -> None:
    for member in model.layers:
        member.initialize(X=X, Y=Y)
    if Y is not None:
        model.set_dim("nO", Y.shape[1])
