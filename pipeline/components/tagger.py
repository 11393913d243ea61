"""``knbc_tagger``: a BiLSTM-CRF span tagger (``knbc.BiLSTMCRFTagger.v1``; ``.v2`` adds a pretrained LM's
layers as ELMo-style features) as a spaCy pipeline component.

One tag per GiNZA token (BIO or BILUO over the component's labels); the decoded spans go to ``doc.ents``
(``spans_key = null``: named entities) or to ``doc.spans[spans_key]`` (e.g. ``"reputation"``: 評判
expressions labelled with type and polarity, ``批評+``). Gold spans are read the same way from the
reference Docs; overlapping gold spans, which one tag sequence cannot hold, are resolved as spaCy
resolves overlapping entities (:func:`spacy.util.filter_spans`: the longest, then the first) and counted.

Weights are saved as a torch ``state_dict`` (``model.pt``, read back with ``torch.load(weights_only=True)``;
the trainable embedding stored in float16) next to ``cfg`` (labels, target, the record of the vectors).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy
import srsly
import torch
from spacy.attrs import TAG
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.scorer import Scorer
from spacy.strings import hash_string
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example
from spacy.util import filter_spans, registry
from thinc.api import ArgsKwargs, Config, Model, PyTorchWrapper_v2, chain

from pipeline.components.architectures import (
    DEFAULT_ENCODER_PATH,
    _feature_extractor,
    _load_encoder,
    _no_input_gradient,
    _orth_hashes,
    attach_saved_bilm,
    bilm_payload,
    check_encoder_found,
    doc_features,
    pipeline_vectors_record,
    torch_networks,
    use_vectors,
)
from pipeline.components.workers import one_thread_in_workers
from pipeline.errors import ModelError
from pipeline.ginza import use_ginza_vectors
from pipeline.models.features import VECTORS_CFG_KEY, FeatureExtractor, check_vectors_record
from pipeline.nn.crf import spans_to_tags, tag_names
from pipeline.nn.tagger import BiLMFeatureTagger, RecurrentTagger

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "knbc.BiLSTMCRFTagger.v1"
hidden_size = 128
layers = 1
dropout = 0.3
trainable_dim = 64
n_buckets = 20000
freeze_vectors = true
max_length = 512
crf = true
scheme = "BIO"
pos_dim = 16
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]
PREDICT_GROUP = 64  # Docs per forward pass at prediction time
WEIGHTS_FILE = "model.pt"
HALF_PRECISION = ("embed.tokens.weight",)
CHAR_BUCKETS = 5000  # hashed character ids of tokens without a vector (char_dim > 0)
MAX_CHARS = 12  # characters read per token
POS_BUCKETS = 1000  # hashed POS tag ids (SudachiPy has ~100 fine-grained tags)  # saved as float16 (the large table; the rest stays float32)


@dataclass
class GoldTags:
    """Training input of the tagger model: Docs and the gold tag ids of each (one per token)."""

    docs: List[Doc]
    tags: List[List[int]]


def pos_ids(doc: Doc, n_buckets: int) -> numpy.ndarray:
    """Hashed ids (1..n_buckets) of the tokens' fine-grained POS tags (SudachiPy's, ``token.tag_``), (n_tokens,)."""
    tags = doc.to_array(TAG).astype(numpy.uint64).reshape(len(doc))
    return (tags % numpy.uint64(n_buckets)).astype(numpy.int64) + 1


def char_ids(doc: Doc, n_buckets: int, max_chars: int = MAX_CHARS) -> numpy.ndarray:
    """Hashed ids (1..n_buckets) of the first ``max_chars`` characters of each token, 0 = padding:
    (n_tokens, max_chars)."""
    ids = numpy.zeros((len(doc), max_chars), dtype=numpy.int64)
    for i, token in enumerate(doc):
        for j, char in enumerate(token.text[:max_chars]):
            ids[i, j] = hash_string(char) % n_buckets + 1
    return ids


def _featurize_tagged(model: Model, inputs, is_train: bool):
    n_buckets, max_length = model.attrs["n_buckets"], model.attrs["max_length"]
    docs, tags = (inputs.docs, inputs.tags) if isinstance(inputs, GoldTags) else (list(inputs), None)
    if not docs:
        return (FeatureExtractor.padded([], max_length=max_length), None, None, None, None), _no_input_gradient
    _feature_extractor(docs[0].vocab, n_buckets)  # a clear error for a vocab without vectors
    batch = FeatureExtractor.padded([doc_features(doc, n_buckets) for doc in docs], max_length)
    pos = torch.zeros(batch.token_ids.shape, dtype=torch.long)  # (B, T), 0 at padding
    for i, doc in enumerate(docs):
        n = int(batch.lengths[i])
        pos[i, :n] = torch.from_numpy(pos_ids(doc, POS_BUCKETS)[:n])
    chars = None
    if model.attrs.get("char_dim", 0):
        chars = torch.zeros((*batch.token_ids.shape, MAX_CHARS), dtype=torch.long)  # (B, T, C), 0 at padding
        for i, doc in enumerate(docs):
            n = int(batch.lengths[i])
            chars[i, :n] = torch.from_numpy(char_ids(doc, CHAR_BUCKETS)[:n])
    gold = None
    if tags is not None:
        gold = torch.zeros(batch.token_ids.shape, dtype=torch.long)  # (B, T), 0 = "O" at padding
        for i, row in enumerate(tags):
            n = int(batch.lengths[i])
            gold[i, :n] = torch.as_tensor(row[:n], dtype=torch.long)
    orth = _orth_hashes(docs, batch.token_ids.shape[1], max_length) if model.attrs.get("orth") else None  # (B, T)
    return (batch, pos, chars, gold, orth), _no_input_gradient


def _tagger_to_torch(model: Model, inputs, is_train: bool):
    batch, pos, chars, gold, orth = inputs
    args = (batch.vector_rows, batch.token_ids, batch.lengths, batch.mask, pos)
    kwargs = {"tags": gold} if gold is not None else {}
    if chars is not None:
        kwargs["char_ids"] = chars
    if orth is not None:
        kwargs["orth"] = orth
    return ArgsKwargs(args=args, kwargs=kwargs), _no_input_gradient


def _reset_tagger(model: Model, X=None, Y=None) -> None:
    model.shims[0]._model.reset_parameters()


@registry.architectures("knbc.BiLSTMCRFTagger.v1")
def build_bilstm_crf_tagger(
    hidden_size: int = 128,
    layers: int = 1,
    dropout: float = 0.3,
    trainable_dim: int = 64,
    n_buckets: int = 20000,
    freeze_vectors: bool = True,
    max_length: int = 512,
    crf: bool = True,
    scheme: str = "BIO",
    pos_dim: int = 0,
    vector_dim: int = 300,
    char_dim: int = 0,
) -> Model:
    """A span tagger: Docs -> ja_ginza vectors (text -> lemma -> norm) + hashed trainable embeddings ->
    BiLSTM -> tag scores (B, T, K) -> a linear-chain CRF with the ``scheme``'s constraints (``crf = false``:
    a softmax per token, the ablation). ``pos_dim`` > 0 adds an embedding of that size of each token's
    part-of-speech tag (SudachiPy's, which GiNZA's tokenizer assigns: 名詞-固有名詞-地名-一般, ...).
    ``char_dim`` > 0 adds, for each token without a static vector, the mean of an embedding of that size of
    its first 12 characters (hashed ids; other tokens get zeros there).
    Given :class:`GoldTags` it returns the summed loss (1,) instead.

    The tag set comes from the component's labels (:meth:`RecurrentTagger.set_tags`); the static vectors
    from the pipeline (the factory hands them over, as for ``knbc.RNNClassifier.v1``).
    """
    options = _tagger_options(hidden_size, layers, dropout, trainable_dim, freeze_vectors, crf, scheme, pos_dim, char_dim)
    network = RecurrentTagger(torch.zeros(0, vector_dim), n_tokens=n_buckets + 1, **options)
    return _tagger_model(network, n_buckets, max_length, char_dim)


def _tagger_options(hidden_size, layers, dropout, trainable_dim, freeze_vectors, crf, scheme, pos_dim,
                    char_dim) -> dict:
    """The keyword arguments of :class:`RecurrentTagger` from an architecture's settings."""
    return dict(trainable_dim=trainable_dim, freeze_vectors=freeze_vectors, hidden_size=hidden_size, layers=layers,
                dropout=dropout, crf=crf, scheme=scheme, n_pos=POS_BUCKETS + 1, pos_dim=pos_dim,
                n_chars=CHAR_BUCKETS + 1, char_dim=char_dim)


def _tagger_model(network: RecurrentTagger, n_buckets: int, max_length: int, char_dim: int, orth: bool = False,
                  init: Callable = _reset_tagger) -> Model:
    """Docs (or :class:`GoldTags`) -> featurizer (``orth``: the tokens' ORTH hashes too) -> ``network``."""
    wrapper = PyTorchWrapper_v2(network, convert_inputs=_tagger_to_torch)
    wrapper.init = init
    featurizer = Model("knbc_featurize_tagged", _featurize_tagged,
                       attrs={"n_buckets": n_buckets, "max_length": max_length, "char_dim": char_dim, "orth": orth})
    return chain(featurizer, wrapper)


TAGGER_V2_ENCODERS = (None, "features")


@registry.architectures("knbc.BiLSTMCRFTagger.v2")
def build_bilstm_crf_tagger_v2(
    encoder: Optional[str] = "features",
    encoder_path: str = DEFAULT_ENCODER_PATH,
    mix_layer_norm: bool = False,
    hidden_size: int = 128,
    layers: int = 1,
    dropout: float = 0.3,
    trainable_dim: int = 64,
    n_buckets: int = 20000,
    freeze_vectors: bool = True,
    max_length: int = 512,
    crf: bool = True,
    scheme: str = "BIO",
    pos_dim: int = 0,
    vector_dim: int = 300,
    char_dim: int = 0,
) -> Model:
    """v1's span tagger with a pretrained bidirectional LM (``encoder_path``: a ``knbc pretrain`` folder,
    default the shipped livedoor LM) as ELMo-style features (``encoder = "features"``): the LM is frozen, its
    layers (embedding, each LSTM layer's states of both directions) are mixed by a learned scalar mix
    (``mix_layer_norm``: each layer normalised first) and concatenated to v1's token features under the BiLSTM
    (:class:`pipeline.nn.tagger.BiLMFeatureTagger`). ``encoder = null`` is v1's network.

    The LM's weights are saved with the component (fp16), so a saved pipeline loads without ``encoder_path``;
    training one needs it (a missing folder is a one-line ModelError).
    """
    if encoder not in TAGGER_V2_ENCODERS:
        raise ValueError(f"encoder must be one of {list(TAGGER_V2_ENCODERS)}, not {encoder!r}")
    options = _tagger_options(hidden_size, layers, dropout, trainable_dim, freeze_vectors, crf, scheme, pos_dim, char_dim)
    if encoder is None:
        return _tagger_model(RecurrentTagger(torch.zeros(0, vector_dim), n_tokens=n_buckets + 1, **options),
                             n_buckets, max_length, char_dim)
    loaded = _load_encoder(encoder_path)
    bilm, hashes = loaded if loaded is not None else (None, None)
    network = BiLMFeatureTagger(torch.zeros(0, vector_dim), n_tokens=n_buckets + 1, bilm=bilm, vocab_hashes=hashes,
                                mix_layer_norm=mix_layer_norm, **options)
    model = _tagger_model(network, n_buckets, max_length, char_dim, orth=True, init=_reset_tagger_v2)
    model.layers[1].attrs["encoder_path"] = None if bilm is not None else encoder_path
    return model


def _reset_tagger_v2(model: Model, X=None, Y=None) -> None:
    check_encoder_found(model, "knbc.BiLSTMCRFTagger.v2")
    _reset_tagger(model, X, Y)


class SpanTagger(TrainablePipe):
    """Predicts non-overlapping labelled spans of tokens into ``doc.ents`` or ``doc.spans[spans_key]``.

    A Doc without tokens gets no spans. Predicted spans replace what the target held.
    """

    def __init__(self, vocab, model: Model, name: str = "tagger", spans_key: Optional[str] = None):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.cfg: Dict[str, Any] = {"labels": [], "spans_key": spans_key}
        self.owner_pid = os.getpid()

    # -- labels and tags -------------------------------------------------------------------------
    @property
    def network(self) -> RecurrentTagger:
        return torch_networks(self.model)[0]

    @property
    def spans_key(self) -> Optional[str]:
        return self.cfg["spans_key"]

    @property
    def labels(self) -> tuple:
        return tuple(self.cfg["labels"])

    @property
    def tags(self) -> list:
        return tag_names(self.labels, self.network.scheme)

    def add_label(self, label: str) -> int:
        if not isinstance(label, str) or not label:
            raise ValueError(f"a label must be a non-empty string, not {label!r}")
        if label in self.cfg["labels"]:
            return 0
        self.cfg["labels"] = [*self.cfg["labels"], label]
        return 1

    def gold_spans(self, doc: Doc) -> list:
        """The spans this component predicts, as ``doc`` holds them (``doc.ents`` or ``doc.spans[key]``)."""
        if self.spans_key is None:
            return list(doc.ents)
        return list(doc.spans[self.spans_key]) if self.spans_key in doc.spans else []

    def example_tags(self, example: Example) -> List[int]:
        """Gold tag ids of ``example.predicted``'s tokens: the reference's spans aligned to them, overlaps
        resolved by :func:`filter_spans`; spans of labels the component does not know are left out."""
        spans = example.get_aligned_spans_y2x(self.gold_spans(example.reference), allow_overlap=True)
        kept = [s for s in filter_spans(spans) if s.label_ in self.cfg["labels"]]
        index = {tag: i for i, tag in enumerate(self.tags)}
        names = spans_to_tags(len(example.predicted), [(s.start, s.end, s.label_) for s in kept], self.network.scheme)
        return [index[name] for name in names]

    # -- training --------------------------------------------------------------------------------
    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None,
                   labels: Optional[Iterable[str]] = None) -> None:
        """Take the labels (given, or those of the examples' gold spans, sorted), size the network and
        draw its weights from the seeded RNG."""
        examples = list(get_examples())
        if labels is None:
            labels = sorted({span.label_ for eg in examples for span in self.gold_spans(eg.reference)})
        self.cfg["labels"] = []
        for label in labels:
            self.add_label(label)
        self.network.set_tags(self.tags)
        self.model.initialize()

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None,
               losses: Optional[Dict[str, float]] = None) -> Dict[str, float]:
        """One step on the summed loss (CRF NLL, or per-token cross-entropy) of the examples' gold tags."""
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        if not examples:
            return losses
        gold = GoldTags([eg.predicted for eg in examples], [self.example_tags(eg) for eg in examples])
        loss, backprop = self.model.begin_update(gold)
        backprop(self.model.ops.asarray(numpy.ones((1,), dtype="f")))
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += float(self.model.ops.to_numpy(loss)[0])
        return losses

    def get_loss(self, examples: Iterable[Example], scores) -> tuple:
        """The summed loss of the examples' gold tags (what :meth:`update` minimizes) and no gradient (the
        torch network computes its own in :meth:`update`)."""
        examples = list(examples)
        gold = GoldTags([eg.predicted for eg in examples], [self.example_tags(eg) for eg in examples])
        with torch.no_grad():
            loss = self.model.predict(gold)
        return float(self.model.ops.to_numpy(loss)[0]), None

    # -- prediction ------------------------------------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> List[List[tuple]]:
        """Token spans ``(start, end, label)`` of each Doc, decoded in groups of similar length."""
        self.owner_pid = one_thread_in_workers(getattr(self, "owner_pid", None))
        docs = list(docs)
        spans: List[List[tuple]] = [[] for _ in docs]
        present = sorted((i for i, doc in enumerate(docs) if len(doc)), key=lambda i: len(docs[i]))
        if not present or not self.labels:
            return spans
        featurize = self.model.layers[0]
        network = self.network
        network.eval()
        with torch.inference_mode():
            for start in range(0, len(present), PREDICT_GROUP):
                group = present[start : start + PREDICT_GROUP]
                (batch, pos, chars, _, orth), _ = featurize([docs[i] for i in group], is_train=False)
                found_spans = network.predict_spans(batch.vector_rows, batch.token_ids, batch.lengths, batch.mask, pos,
                                                    chars, orth)
                for i, found in zip(group, found_spans):
                    spans[i] = found
        return spans

    def set_annotations(self, docs: Iterable[Doc], spans: List[List[tuple]]) -> None:
        for doc, found in zip(docs, spans):
            predicted = [Span(doc, start, end, label=label) for start, end, label in found]
            if self.spans_key is None:
                doc.ents = filter_spans(predicted)
            else:
                doc.spans[self.spans_key] = SpanGroup(doc, name=self.spans_key, spans=predicted)

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        """spaCy's exact-match span P/R/F (micro, and per type), keyed ``{name}_p/_r/_f/_per_type`` as well
        as spaCy's own ``ents_*`` / ``spans_{key}_*`` keys."""
        if self.spans_key is None:
            scores = Scorer.score_spans(examples, "ents", **kwargs)
            prefix = "ents"
        else:
            key = self.spans_key
            scores = Scorer.score_spans(examples, f"spans_{key}",
                                        getter=lambda doc, attr: doc.spans[key] if key in doc.spans else [], **kwargs)
            prefix = f"spans_{key}"
        named = {f"{self.name}_{k.removeprefix(prefix + '_')}": v for k, v in scores.items()}
        return {**scores, **named, f"{self.name}_overlap_f": self._overlap_f(examples)}

    def _overlap_f(self, examples: Iterable[Example]) -> float:
        """Micro F1 where a span is right when it shares a token with a span of its label on the other side
        (precision over predicted spans, recall over gold spans)."""
        right_pred = n_pred = found_gold = n_gold = 0
        for eg in examples:
            gold, pred = self.gold_spans(eg.reference), self.gold_spans(eg.predicted)
            gold = [(s.start_char, s.end_char, s.label_) for s in gold]
            pred = [(s.start_char, s.end_char, s.label_) for s in pred]

            def hit(a, others):
                return any(a[2] == b[2] and a[0] < b[1] and b[0] < a[1] for b in others)

            right_pred += sum(hit(p, gold) for p in pred)
            found_gold += sum(hit(g, pred) for g in gold)
            n_pred, n_gold = n_pred + len(pred), n_gold + len(gold)
        p = right_pred / n_pred if n_pred else 0.0
        r = found_gold / n_gold if n_gold else 0.0
        return 2 * p * r / (p + r) if p + r else 0.0

    # -- serialization ---------------------------------------------------------------------------
    def _weights_bytes(self, half: bool) -> bytes:
        network = self.network
        state = {k: (v.half() if half and k in HALF_PRECISION else v) for k, v in network.state_dict().items()}
        if getattr(network, "bilm", None) is not None:  # knbc.BiLSTMCRFTagger.v2: the LM (fp16) and its shape
            state = bilm_payload(network, state)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()

    def _load_weights(self, data: bytes, where: str) -> None:
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, UnpicklingError, EOFError, ...
            raise ModelError(f"{where}: not readable weights (truncated or corrupt?): {err}") from None
        if not isinstance(state, dict):
            raise ModelError(f"{where}: not readable weights (expected a state_dict)")
        network = self.network
        network.set_tags(self.tags)
        if "format" in state:  # knbc.BiLSTMCRFTagger.v2's payload: the LM's shape and the state_dict
            if state.get("bilm") is not None and not hasattr(network, "attach_bilm"):
                raise ModelError(f"{where}: weights of a tagger over a pretrained LM (knbc.BiLSTMCRFTagger.v2), "
                                 "but the component's config builds another architecture")
            attach_saved_bilm(network, state.get("bilm"))
            state = state["state"]
        try:
            network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        except RuntimeError as err:
            raise ModelError(f"{where}: weights do not fit the component's config: {str(err).splitlines()[0]}") from None

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        return srsly.msgpack_dumps({"cfg": self.cfg, "model": self._weights_bytes(half=False)})

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "SpanTagger":
        data = srsly.msgpack_loads(bytes_data)
        self.cfg = dict(data["cfg"])
        self._load_weights(data["model"], self.name)
        return self

    def to_disk(self, path, *, exclude=tuple()) -> None:
        """``cfg`` (JSON: labels, target, vectors record) and ``model.pt`` (the state_dict) in ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.cfg.setdefault(VECTORS_CFG_KEY, pipeline_vectors_record(self.vocab))
        (path / "cfg").write_text(json.dumps(self.cfg, ensure_ascii=False, indent=1), encoding="utf-8")
        (path / WEIGHTS_FILE).write_bytes(self._weights_bytes(half=True))

    def from_disk(self, path, *, exclude=tuple()) -> "SpanTagger":
        """Load what :meth:`to_disk` saved; a missing or damaged file is a :class:`ModelError` naming it, a
        model trained with other vectors a :class:`pipeline.errors.VectorsMismatchError`."""
        path = Path(path)
        for name in ("cfg", WEIGHTS_FILE):
            if not (path / name).is_file():
                raise ModelError(f"{path}: incomplete model folder, {name} is missing")
        try:
            cfg = json.loads((path / "cfg").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ModelError(f"{path / 'cfg'}: not a JSON object: {err}") from None
        if not isinstance(cfg, dict) or not isinstance(cfg.get("labels"), list):
            raise ModelError(f"{path / 'cfg'}: expected an object with a list of labels")
        self.cfg = cfg
        self._load_weights((path / WEIGHTS_FILE).read_bytes(), str(path / WEIGHTS_FILE))
        check_vectors_record(self.cfg.get(VECTORS_CFG_KEY), pipeline_vectors_record(self.vocab), f"{path}")
        return self


def use_tagger_vectors(model: Model, vocab) -> None:
    """Give the network of a ``knbc.BiLSTMCRFTagger.v1`` or ``.v2`` model the vector table of ``vocab`` (the
    v2 network's LM reads it too)."""
    use_vectors(model, vocab)


@Language.factory(
    "knbc_tagger",
    assigns=["doc.ents", "doc.spans"],
    default_config={"model": DEFAULT_MODEL, "spans_key": None},
    default_score_weights={},  # keyed by the instance's name ({name}_f): configs list them
)
def make_knbc_tagger(nlp: Language, name: str, model: Model, spans_key: Optional[str]) -> SpanTagger:
    """Create a ``knbc_tagger`` component (see :class:`SpanTagger`): spans into ``doc.ents`` when
    ``spans_key`` is null, else into ``doc.spans[spans_key]``."""
    use_tagger_vectors(model, use_ginza_vectors(nlp.vocab))
    return SpanTagger(nlp.vocab, model, name, spans_key=spans_key)
