"""Registered model architectures: pure builders that wrap the torch networks of ``pipeline.nn`` with thinc."""

from __future__ import annotations

from functools import lru_cache
from typing import List, Optional

import torch
from spacy.tokens import Doc
from spacy.util import registry
from spacy.attrs import ORTH
from thinc.api import ArgsKwargs, Model, PyTorchShim, PyTorchWrapper_v2, Softmax_v2, chain
from thinc.layers.pytorchwrapper import convert_pytorch_default_outputs
from thinc.layers.pytorchwrapper import forward as pytorch_forward
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
    """Give the networks of a ``knbc.RNNClassifier.v1`` or ``.v2`` model the vector table of ``vocab`` (a pipeline's)."""
    table = vectors_table(vocab)  # (rows, dim), one copy shared by the members
    for network in torch_networks(model):
        if hasattr(network, "set_vectors"):  # knbc.RNNClassifier.v2: its own embedding and the LM's
            network.set_vectors(table)
        else:
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


# ---------------------------------------------------------------------------------------------------
# knbc.RNNClassifier.v2: v1's classifier with an optional pretrained bidirectional LM as its encoder

DEFAULT_ENCODER_PATH = "models/livedoor-lm"


def _orth_hashes(docs: List[Doc], steps: int, max_length: int) -> torch.Tensor:
    """(B, steps) int64: each token's ORTH hash (the uint64 viewed as int64), 0 at padding."""
    import numpy

    orth = numpy.zeros((len(docs), steps), dtype=numpy.int64)
    for i, doc in enumerate(docs):
        n = min(len(doc), max_length, steps)
        if n:
            orth[i, :n] = doc.to_array(ORTH)[:n].astype(numpy.uint64).view(numpy.int64)
    return torch.from_numpy(orth)


def doc_featurizer_v2(n_buckets: int, max_length: int) -> Model[List[Doc], tuple]:
    """v1's featurizer (:func:`doc_featurizer`) plus the tokens' ORTH hashes (B, T), which the pretrained
    LM's vocabulary is looked up by: Docs -> (FeatureBatch, orth)."""
    return Model("knbc_featurize_v2", _featurize_v2, attrs={"n_buckets": n_buckets, "max_length": max_length})


def _featurize_v2(model: Model, docs: List[Doc], is_train: bool):
    batch, _ = _featurize(model, docs, is_train)
    return (batch, _orth_hashes(docs, batch.token_ids.shape[1], model.attrs["max_length"])), _no_input_gradient


def _batch_to_torch_v2(model: Model, inputs: tuple, is_train: bool):
    batch, orth = inputs
    args = (batch.vector_rows, batch.token_ids, batch.lengths, batch.mask, orth)
    return ArgsKwargs(args=args, kwargs={}), _no_input_gradient


class ScheduledPyTorchShim(PyTorchShim):
    """thinc's PyTorch shim with ULMFiT's schedule (:class:`pipeline.nn.finetune_schedule.FinetuneSchedule`):
    each parameter's update gets its group's learning-rate scale (thinc's ``lr_scale``), and the groups
    are unfrozen epoch by epoch. An epoch is ``examples_per_epoch`` training examples seen (set by
    ``knbc_textcat.initialize`` to the size of the training set), so no training loop has to call back.
    Without a schedule it is thinc's shim.
    """

    schedule = None  # a FinetuneSchedule, or None
    examples_per_epoch: Optional[int] = None
    examples_seen = 0

    def start_schedule(self, examples_per_epoch: Optional[int]) -> None:
        """(Re)start the schedule at epoch 0 for a training set of ``examples_per_epoch`` examples."""
        self.examples_per_epoch, self.examples_seen = examples_per_epoch, 0
        if self.schedule is not None:
            self.schedule.apply(0)

    def begin_update(self, inputs: ArgsKwargs):
        if self.schedule is not None and self.examples_per_epoch:
            epoch = self.examples_seen // self.examples_per_epoch
            if epoch != self.schedule.epoch:
                self.schedule.apply(epoch)
        self.examples_seen += int(inputs.args[0].shape[0])
        if not any(p.requires_grad for p in self._model.parameters()):  # all frozen (the head is thinc's softmax)
            self._model.train()
            return self._model(*inputs.args, **inputs.kwargs), _nothing_to_backpropagate
        return super().begin_update(inputs)

    def finish_update(self, optimizer) -> None:
        if self.schedule is None:
            return super().finish_update(optimizer)
        from thinc.util import torch2xp, xp2torch

        for name, torch_data in self._model.named_parameters():
            if torch_data.grad is not None:
                if not self._grad_scaler.found_inf:
                    param, grad = optimizer((self.id, name), torch2xp(torch_data.data), torch2xp(torch_data.grad),
                                            lr_scale=self.schedule.parameter_lr_scale(torch_data))
                    torch_data.data = xp2torch(param, requires_grad=torch_data.requires_grad, device=torch_data.device)
                torch_data.grad.zero_()
        self._grad_scaler.update()


def _nothing_to_backpropagate(d_output) -> ArgsKwargs:
    return ArgsKwargs(args=(), kwargs={})


def bilm_payload(network, state: dict) -> dict:
    """What a network over a pretrained LM saves: ``state`` (its ``state_dict``, perhaps with some weights
    already halved) with the LM's float weights in fp16 (lean), and the LM's shape, so that it loads without
    the LM's folder (:func:`attach_saved_bilm`)."""
    shape = None
    if network.bilm is not None:
        bilm = network.bilm
        shape = {"vocab_size": bilm.vocab_size, "trainable_dim": bilm.embed.trainable_dim,
                 "hidden_size": bilm.hidden_size, "layers": bilm.n_layers, "vector_dim": network.vector_dim}
    state = {k: v.half() if k.startswith("bilm.") and v.is_floating_point() else v for k, v in state.items()}
    return {"format": 1, "bilm": shape, "state": state}


def attach_saved_bilm(network, shape: Optional[dict]) -> None:
    """Complete a shell network (built without the LM's folder) with an LM of the saved ``shape`` (from
    :func:`bilm_payload`), ready for the saved weights."""
    from pipeline.nn.pretrained_classifier import bilm_encoder

    if shape is not None and network.bilm is None:
        network.attach_bilm(bilm_encoder(**shape), torch.arange(shape["vocab_size"], dtype=torch.long))
        network.set_vectors(network._vectors)


def serialize_v2_network(network) -> bytes:
    """The network's ``state_dict`` as :func:`bilm_payload` has it, as bytes (:func:`deserialize_v2_network`)."""
    import io

    buffer = io.BytesIO()
    torch.save(bilm_payload(network, network.state_dict()), buffer)
    return buffer.getvalue()


def deserialize_v2_network(network, data: bytes, device):
    """The inverse of :func:`serialize_v2_network` (``torch.load(weights_only=True)``): completes a shell
    network (built without the LM's folder) with an LM of the saved shape, then loads the weights."""
    import io

    payload = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    attach_saved_bilm(network, payload["bilm"])
    network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state"].items()})
    return network.to(device)


def _load_encoder(path: str):
    """(BiLM without softmax, vocab hashes (V,) int64) from a ``knbc pretrain`` folder; None when absent."""
    from pathlib import Path

    import numpy
    from spacy.strings import hash_string

    from pipeline.models.pretrained_lm import META_NAME, load_bilm

    folder = Path(path)
    if not folder.is_absolute() and not folder.exists():
        from pipeline.resources import CHECKOUT_DIR

        folder = CHECKOUT_DIR / folder
    if not (folder / META_NAME).is_file():
        return None
    bilm, vocab, _ = load_bilm(folder, torch.zeros(0, 300))
    bilm.softmax = None
    hashes = numpy.array([hash_string(token) for token in vocab.itos], dtype=numpy.uint64).view(numpy.int64)
    return bilm, torch.from_numpy(hashes.copy())


@registry.architectures("knbc.RNNClassifier.v2")
def build_rnn_classifier_v2(
    encoder: Optional[str] = None,
    encoder_path: str = DEFAULT_ENCODER_PATH,
    cell: str = "lstm",
    bidirectional: bool = True,
    layers: int = 1,
    hidden_size: int = 64,
    dropout: float = 0.3,
    pooling: str = "attention",
    trainable_dim: int = 64,
    n_buckets: int = 20000,
    freeze_vectors: bool = True,
    max_length: int = 512,
    mix_layer_norm: bool = False,
    lr_decay: float = 2.6,
    gradual_unfreezing: bool = True,
    vector_dim: int = 300,
    nO: Optional[int] = None,
) -> Model[List[Doc], Floats2d]:
    """v1's recurrent classifier (one network, no ensemble) with a pretrained bidirectional LM
    (``encoder_path``: a ``knbc pretrain`` folder, default the shipped livedoor LM) used as
    (:class:`pipeline.nn.pretrained_classifier.PretrainedEncoderClassifier`):

    * ``encoder = null``: not at all (v1's network);
    * ``"features"``: ELMo's way: its frozen layers, mixed by a learned scalar mix (``mix_layer_norm``:
      each layer normalised first), next to the static + hashed embedding under the BiLSTM + pooling;
    * ``"finetune"``: ULMFiT's way: its embedding and LSTMs are the encoder, fine-tuned with
      discriminative learning rates (``lr_decay`` per layer group down from the head) and, with
      ``gradual_unfreezing``, the head alone in the first epoch and one more group each epoch after.

    The LM's weights are saved with the component (fp16), so a saved pipeline loads without
    ``encoder_path``; training one needs it (a missing folder is a one-line ModelError).
    """
    from pipeline.nn.finetune_schedule import FinetuneSchedule
    from pipeline.nn.pretrained_classifier import ENCODERS, PretrainedEncoderClassifier

    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {list(ENCODERS)}, not {encoder!r}")
    loaded = _load_encoder(encoder_path) if encoder is not None else None
    bilm, hashes = loaded if loaded is not None else (None, None)
    network = PretrainedEncoderClassifier(
        torch.zeros(0, vector_dim), n_tokens=n_buckets + 1, encoder=encoder, bilm=bilm, vocab_hashes=hashes,
        trainable_dim=trainable_dim, freeze_vectors=freeze_vectors, hidden_size=hidden_size, cell=cell,
        layers=layers, bidirectional=bidirectional, pooling=pooling, dropout=dropout, mix_layer_norm=mix_layer_norm,
    )
    shim = ScheduledPyTorchShim(network, serialize_model=serialize_v2_network, deserialize_model=deserialize_v2_network)
    if encoder == "finetune" and bilm is not None:
        shim.schedule = FinetuneSchedule(network.layer_groups(), decay=lr_decay, unfreeze=gradual_unfreezing)
    wrapper = Model("pytorch", pytorch_forward, attrs={"convert_inputs": _batch_to_torch_v2,
                                                     "convert_outputs": convert_pytorch_default_outputs},
                    shims=[shim], dims={"nI": None, "nO": None}, init=_init_v2_network)
    wrapper.attrs["encoder_path"] = None if encoder is None or bilm is not None else encoder_path
    head_width = network.output_dim if encoder is None or bilm is not None else None
    return chain(doc_featurizer_v2(n_buckets, max_length), wrapper, Softmax_v2(nO=nO, nI=head_width))


def check_encoder_found(model: Model, architecture: str) -> None:
    """At initialization (training): a one-line ModelError when the pretrained LM's folder was not found
    (``model.attrs["encoder_path"]`` holds it then)."""
    missing = model.attrs.get("encoder_path")
    if missing is not None:
        from pipeline.errors import ModelError

        raise ModelError(f"{missing}: no pretrained LM there (bilm.json, bilm.pt) to train "
                         f"{architecture} from; set encoder_path or run knbc pretrain")


def _init_v2_network(model: Model, X=None, Y=None) -> None:
    check_encoder_found(model, "knbc.RNNClassifier.v2")
    model.shims[0]._model.reset_parameters()
    model.shims[0].start_schedule(None)
