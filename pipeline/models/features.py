"""The one bridge from GiNZA to torch: spaCy ``Doc`` objects in, index arrays and tensors out.

Every token gets two indices:

* a **vector row** into ``vocab.vectors`` (the ja_ginza static vectors, 20,000 x 300), looked up by the
  token's text, then its lemma, then its normalized form (SudachiPy's 正規化表記), ``-1`` when none of
  them has a vector. On KNBC the text alone finds a vector for about 85% of tokens, text then lemma
  about 91%, text then lemma then norm about 99% (:func:`vector_coverage` measures it);
* a **token id** into a trainable embedding (:class:`HashedTokenIds`: the normalized form's hash modulo
  a number of buckets, plus one), so that the network can learn something for every token, those
  without a vector too; nothing is counted or saved.

No torch modules live here (those are in :mod:`pipeline.nn`); this module only produces numpy arrays
and torch tensors. Conventions of a :class:`FeatureBatch`:

* ``vector_rows`` is ``-1`` both where a token has no vector and at padding positions;
* ``token_ids`` is ``0`` (:data:`PAD_ID`) at padding positions; real tokens never get ``0``;
* ``mask`` is ``True`` exactly at real (non-padding) positions, so ``mask.sum(1) == lengths``.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import torch
from spacy.attrs import LEMMA, NORM, ORTH
from spacy.tokens import Doc, Token
from spacy.vocab import Vocab

from pipeline.errors import UnknownWordError, UsageError, VectorsMismatchError

PAD_ID = 0  # token id of padding positions
NO_VECTOR = -1  # vector row of tokens without a vector, and of padding positions

LOOKUP_FIELDS = ("text", "lemma", "norm")  # the order in which a token's strings are tried
COVERAGE_STAGES = ("text", "text+lemma", "text+lemma+norm")  # the keys vector_coverage returns


_FIELD_ATTRS = {"text": (ORTH, "orth"), "lemma": (LEMMA, "lemma"), "norm": (NORM, "norm")}  # hash attributes


def _field_attrs(fields: Sequence[str]) -> tuple[tuple[int, str], ...]:
    unknown = [field for field in fields if field not in _FIELD_ATTRS]
    if unknown:
        raise ValueError(f"unknown lookup field(s) {unknown}; expected some of {LOOKUP_FIELDS}")
    return tuple(_FIELD_ATTRS[field] for field in fields)


class VectorLookup:
    """Finds a token's row in ``vocab.vectors`` trying its text, then its lemma, then its norm.

    It works on the strings' hashes, as spaCy stores them on each token (``ORTH``, ``LEMMA``,
    ``NORM``; an empty string hashes to 0 and has no vector), looked up in ``vectors.key2row`` (what
    ``Vectors.find(key=...)`` does): a hash is the same in every vocab, so the Docs may come from
    another pipeline than ``vocab``, and unknown strings neither crash nor grow the vocab.
    """

    def __init__(self, vocab: Vocab, fields: Sequence[str] = LOOKUP_FIELDS):
        if vocab.vectors.mode != "default":
            raise ValueError(f"only table vectors are supported, not {vocab.vectors.mode!r} vectors")
        self.vocab = vocab
        self.fields = tuple(fields)
        attrs = _field_attrs(self.fields)
        self._attr_ids = [attr_id for attr_id, _ in attrs]  # for Doc.to_array
        self._getters = tuple(attrgetter(name) for _, name in attrs)  # for one Token
        self._key2row = vocab.vectors.key2row
        self._strings = vocab.strings

    def string_row(self, string: str) -> int:
        """The vector row of one string, ``-1`` when it has none (the empty string has none)."""
        if not string:
            return NO_VECTOR
        return self._key2row.get(self._strings[string], NO_VECTOR)

    def _stage(self, keys: Sequence[int]) -> tuple[int, int]:
        get = self._key2row.get
        for index, key in enumerate(keys):
            row = get(key, NO_VECTOR) if key else NO_VECTOR
            if row != NO_VECTOR:
                return index, row
        return -1, NO_VECTOR

    def stage(self, token: Token) -> tuple[int, int]:
        """``(stage, row)``: the index in ``fields`` of the first string that has a vector and its row,
        or ``(-1, -1)`` when none has."""
        return self._stage([getter(token) for getter in self._getters])

    def row(self, token: Token) -> int:
        """The vector row of ``token`` (first hit over ``fields``), ``-1`` when none."""
        return self.stage(token)[1]

    def rows(self, doc: Doc) -> np.ndarray:
        """Vector rows of every token of ``doc``: int64 array of shape (n_tokens,), ``-1`` = no vector.

        The hashes come out of the Doc in one array (no Token objects are made), which makes this
        the fast path of every classifier's featurization.
        """
        if not len(doc):
            return np.empty(0, dtype=np.int64)
        keys = doc.to_array(self._attr_ids).reshape(len(doc), -1).tolist()  # (n_tokens, n_fields) hashes
        return np.fromiter((self._stage(row)[1] for row in keys), dtype=np.int64, count=len(doc))


def vector_coverage(docs: Iterable[Doc], vocab: Vocab | None = None, skip_space: bool = False) -> dict[str, float]:
    """The fraction of tokens of ``docs`` that find a vector by each lookup stage, cumulatively.

    Returns ``{"text": f1, "text+lemma": f2, "text+lemma+norm": f3}`` with ``f1 <= f2 <= f3``; all
    0.0 when there are no tokens. ``vocab`` defaults to the vocab of the first doc. With
    ``skip_space``, whitespace tokens (``token.is_space``, e.g. a full-width space) are not counted.
    """
    lookup: VectorLookup | None = VectorLookup(vocab) if vocab is not None else None
    hits = [0] * len(LOOKUP_FIELDS)
    total = 0
    for doc in docs:
        if lookup is None:
            lookup = VectorLookup(doc.vocab)
        for token in doc:
            if skip_space and token.is_space:
                continue
            total += 1
            stage, _ = lookup.stage(token)
            if stage >= 0:
                hits[stage] += 1
    cumulative = np.cumsum(hits)
    return {name: (float(cumulative[i]) / total if total else 0.0) for i, name in enumerate(COVERAGE_STAGES)}


class HashedTokenIds:
    """Trainable ids without a vocabulary: a token's normalized-form hash modulo ``n_buckets``, plus one.

    Id 0 stays padding; nothing has to be counted or saved, so a component built on it can be
    constructed, trained and reloaded from its config alone. Used by the text classifiers.
    """

    def __init__(self, n_buckets: int):
        if n_buckets < 1:
            raise ValueError(f"n_buckets must be >= 1, not {n_buckets}")
        self.n_buckets = n_buckets

    def __len__(self) -> int:
        """The size of an embedding table over these ids (padding included)."""
        return self.n_buckets + 1

    def ids(self, doc: Doc) -> np.ndarray:
        """Ids of every token of ``doc``: int64 array of shape (n_tokens,), each in 1..n_buckets."""
        norms = doc.to_array(NORM).astype(np.uint64).reshape(len(doc))  # (n_tokens,) hashes
        return (norms % np.uint64(self.n_buckets)).astype(np.int64) + 1


@dataclass
class DocFeatures:
    """The indices of one doc's tokens, untruncated."""

    vector_rows: np.ndarray  # (n_tokens,) int64, row in vocab.vectors, -1 = no vector
    token_ids: np.ndarray  # (n_tokens,) int64, token id (>= 1)

    def __len__(self) -> int:
        return len(self.token_ids)


@dataclass
class FeatureBatch:
    """Padded tensors for a batch of B docs, T positions each.

    ``T = max(1, longest truncated doc)``: there is always at least one time step, so an all-empty
    batch still has shape (B, 1). An empty doc has ``lengths == 0`` and an all-False ``mask`` row; its
    only inputs are padding (``vector_rows == -1``, ``token_ids == 0``), which
    :class:`pipeline.nn.embedding.StaticPlusTrainableEmbedding` turns into zero vectors. Downstream:

    * masked mean pooling must divide by ``lengths.clamp(min=1)`` (an empty doc pools to zeros);
    * masked max pooling must fill masked positions with a finite value (or zero the rows where
      ``lengths == 0``), else an empty doc pools to ``-inf``;
    * ``pack_padded_sequence`` refuses length 0: pass ``lengths.clamp(min=1)`` (the one padding step
      of an empty doc is then read) or drop empty docs first.
    """

    vector_rows: torch.Tensor  # (B, T) long, row in vocab.vectors; -1 = no vector or padding
    token_ids: torch.Tensor  # (B, T) long, token id; 0 = padding
    lengths: torch.Tensor  # (B,) long, tokens per doc after truncation (0 for an empty doc)
    mask: torch.Tensor  # (B, T) bool, True at real tokens

    def __len__(self) -> int:
        return self.lengths.shape[0]

    def to(self, device: torch.device | str) -> FeatureBatch:
        """The same batch on ``device``."""
        return FeatureBatch(
            *(tensor.to(device) for tensor in (self.vector_rows, self.token_ids, self.lengths, self.mask))
        )


class FeatureExtractor:
    """Turns Docs into :class:`DocFeatures` and padded :class:`FeatureBatch` tensors.

    Holds a :class:`VectorLookup` on ``vocab`` and the :class:`HashedTokenIds`: nothing to build or save
    (the vectors come from ``vocab``, i.e. from ja_ginza, and the ids from the tokens' hashes).
    """

    def __init__(self, vocab: Vocab, token_vocab: HashedTokenIds, lookup_fields: Sequence[str] = LOOKUP_FIELDS):
        self.lookup = VectorLookup(vocab, lookup_fields)
        self.token_vocab = token_vocab

    @property
    def vocab(self) -> Vocab:
        """The spaCy vocab whose vectors the rows index."""
        return self.lookup.vocab

    @property
    def n_tokens(self) -> int:
        """The number of token ids, padding included (an embedding table's row count)."""
        return len(self.token_vocab)

    def doc_features(self, doc: Doc) -> DocFeatures:
        """The vector rows and token ids of every token of ``doc``."""
        return DocFeatures(vector_rows=self.lookup.rows(doc), token_ids=self.token_vocab.ids(doc))

    def batch(self, docs: Sequence[Doc | DocFeatures], max_length: int | None = None) -> FeatureBatch:
        """Pad a batch of docs (or precomputed :class:`DocFeatures`) into tensors.

        With ``max_length``, each doc keeps its first ``max_length`` tokens (the rest are dropped and
        ``lengths`` counts the kept ones). See :class:`FeatureBatch` for the padding conventions.
        """
        features = [item if isinstance(item, DocFeatures) else self.doc_features(item) for item in docs]
        return self.padded(features, max_length)

    @staticmethod
    def padded(features: Sequence[DocFeatures], max_length: int | None = None) -> FeatureBatch:
        """Pad the features of a batch of docs into tensors (see :meth:`batch`)."""
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be >= 1, not {max_length}")
        lengths = [len(f) if max_length is None else min(len(f), max_length) for f in features]
        width = max([1, *lengths])
        vector_rows = np.full((len(features), width), NO_VECTOR, dtype=np.int64)  # (B, T)
        token_ids = np.full((len(features), width), PAD_ID, dtype=np.int64)  # (B, T)
        for i, (f, n) in enumerate(zip(features, lengths)):
            vector_rows[i, :n] = f.vector_rows[:n]
            token_ids[i, :n] = f.token_ids[:n]
        lengths_t = torch.tensor(lengths, dtype=torch.long).reshape(len(features))  # (B,)
        mask = torch.arange(width).unsqueeze(0) < lengths_t.unsqueeze(1)  # (B, T) bool
        return FeatureBatch(
            vector_rows=torch.from_numpy(vector_rows),
            token_ids=torch.from_numpy(token_ids),
            lengths=lengths_t,
            mask=mask,
        )


def vectors_table(vocab: Vocab) -> torch.Tensor:
    """A float32 copy of ``vocab.vectors.data`` as a torch tensor of shape (rows, dim)."""
    from thinc.api import to_numpy

    data = np.array(to_numpy(vocab.vectors.data), dtype=np.float32, copy=True)  # (rows, dim)
    return torch.from_numpy(data)


class NearestWords:
    """The words nearest to a word by cosine over a vector table (``pipeline.similar``, ``knbc similar``).

    ja_ginza's table has 20,000 rows but 480k keys: its pruning mapped every dropped word onto the
    row of its nearest kept word. A row is therefore named by its first key, the word whose vector
    it is (テスト, not テスト結果), and the query's own row is never among its neighbours.
    """

    def __init__(self, vocab: Vocab):
        self.lookup = VectorLookup(vocab)
        data = np.asarray(vocab.vectors.data, dtype=np.float32)  # (rows, dim)
        norms = np.linalg.norm(data, axis=1, keepdims=True)  # (rows, 1)
        self.unit = data / np.where(norms == 0, 1.0, norms)  # (rows, dim), unit rows (zero rows stay zero)
        self.names: list[str | None] = [None] * data.shape[0]
        for key, row in vocab.vectors.key2row.items():  # kept words come before the words pruned onto them
            if self.names[row] is None:
                self.names[row] = vocab.strings[key]

    def row(self, word: str, tokenizer: Callable[[str], Doc] | None = None) -> int:
        """The vector row of ``word``: its text, else (tokenized as one token) its lemma, then its norm."""
        row = self.lookup.string_row(word.strip())
        if row == NO_VECTOR and tokenizer is not None and word.strip():
            tokens = [t.text for t in tokenizer(word.strip()) if not t.is_space]
            if len(tokens) > 1:
                raise UnknownWordError(f"{word!r}: no vector for it, and it is {len(tokens)} tokens "
                                       f"({' '.join(tokens)}); give one of them")
            row = self.lookup.row(tokenizer(word.strip())[0])
        if row == NO_VECTOR:
            raise UnknownWordError(f"{word!r}: no vector for this word (by its text, lemma or normalized form)")
        return row

    def similar(self, word: str, top: int = 10, tokenizer: Callable[[str], Doc] | None = None) -> list[tuple[str, float]]:
        """The ``top`` words nearest to ``word`` as ``(word, cosine)``, best first, one per row."""
        if top < 1:
            raise UsageError(f"top must be >= 1, not {top}")
        row = self.row(word, tokenizer)
        scores = self.unit @ self.unit[row]  # (rows,)
        scores[row] = -np.inf  # the query's own row (and the words pruned onto it)
        best = np.argpartition(-scores, min(top, len(scores) - 1))[:top]
        best = best[np.argsort(-scores[best])]
        return [(self.names[i], round(float(scores[i]), 4)) for i in best if self.names[i] is not None]


FINGERPRINT_ROWS = 1000  # rows of a vector table hashed into its record (with its shape): cheap, and any retrained or other table differs


VECTORS_CFG_KEY = "vectors"  # a saved component's cfg: the record of the vectors it was trained with


def vectors_record(vocab: Vocab, package: str | None = None, version: str | None = None) -> dict[str, Any]:
    """What identifies the vector table of ``vocab``: its name, the package and version it came from,
    its shape and the SHA-256 of its shape and first :data:`FINGERPRINT_ROWS` rows (float32)."""
    from thinc.api import to_numpy

    shape = [int(n) for n in vocab.vectors.data.shape]
    head = np.ascontiguousarray(to_numpy(vocab.vectors.data[:FINGERPRINT_ROWS]), dtype=np.float32)
    digest = hashlib.sha256(np.asarray(shape, dtype=np.int64).tobytes() + head.tobytes()).hexdigest()
    return {"name": vocab.vectors.name, "package": package, "version": version, "shape": shape,
            "rows_hashed": FINGERPRINT_ROWS, "sha256": digest}


def _describe(record: dict[str, Any]) -> str:
    shape = "x".join(str(n) for n in record.get("shape", []))
    return f"{record.get('package') or record.get('name')} {record.get('version')} ({shape}, sha256 {record.get('sha256', '')[:12]})"


def check_vectors_record(saved: dict[str, Any] | None, installed: dict[str, Any], where: str) -> None:
    """Raise :class:`VectorsMismatchError` when a model's ``saved`` record names another table than
    the ``installed`` one (shape or hash); warn when the model has no record (saved before records)."""
    if saved is None:
        warnings.warn(f"{where}: no record of the vectors it was trained with; using the installed "
                      f"{_describe(installed)} unchecked", stacklevel=3)
        return
    if list(saved.get("shape", [])) != installed["shape"] or saved.get("sha256") != installed["sha256"]:
        raise VectorsMismatchError(f"{where}: trained with the vectors of {_describe(saved)}, but {_describe(installed)} "
                                   f"is installed; install the same version or retrain")
