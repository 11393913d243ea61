"""The pretrained bidirectional LM as a saved model: its options, builder, and one save/load.

A folder holds ``bilm.json`` (options and vocabulary) and ``bilm.pt`` (the ``state_dict``, stored in
fp16, loaded with ``weights_only=True``). The static vector table is not saved: it is ja_ginza's,
passed in by the caller when the model is built or loaded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from pipeline.errors import ModelError
from pipeline.models.vocabulary import Vocabulary
from pipeline.nn.bilm import BidirectionalLM
from pipeline.resources import read_json_object

META_NAME, WEIGHTS_NAME = "bilm.json", "bilm.pt"


@dataclass
class BiLMOptions:
    """The network and its vocabulary (saved with the model)."""

    hidden_size: int = 256
    layers: int = 1
    trainable_dim: int = 64
    dropout: float = 0.1
    vocab_size: int = 30000  # ids, the four specials included
    min_count: int = 3
    cutoffs: list[int] = field(default_factory=lambda: [2000, 10000])


def build_bilm(vocab: Vocabulary, options: BiLMOptions, vectors: torch.Tensor) -> BidirectionalLM:
    """A :class:`BidirectionalLM` for ``vocab`` over the static table ``vectors`` (rows, dim)."""
    return BidirectionalLM(vectors, len(vocab), options.trainable_dim, options.hidden_size, options.layers,
                           options.dropout, options.cutoffs)


def save_bilm(path: str | Path, model: BidirectionalLM, vocab: Vocabulary, options: BiLMOptions, **info) -> Path:
    """Write ``bilm.json`` and ``bilm.pt`` (fp16 weights) into ``path``; ``info`` goes into the JSON."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {"kind": "bilm", "options": asdict(options), "vocab": vocab.to_dict(), **info}
    (path / META_NAME).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path / WEIGHTS_NAME)
    return path


def saved_rows_by_id(path: str | Path) -> torch.Tensor:
    """(V,): the static vector row of each id that ``bilm.json`` records (what generation feeds back in)."""
    meta = read_json_object(Path(path) / META_NAME)
    if "rows_by_id" not in meta:
        raise ModelError(f"{Path(path) / META_NAME}: no rows_by_id recorded (export it again with knbc pretrain)")
    return torch.tensor(meta["rows_by_id"], dtype=torch.long)


def load_bilm(path: str | Path, vectors: torch.Tensor) -> tuple[BidirectionalLM, Vocabulary, BiLMOptions]:
    """The model saved by :func:`save_bilm` (in float32, eval mode), its vocabulary and options; a missing
    or damaged file is a :class:`ModelError` naming it."""
    path = Path(path)
    for name in (META_NAME, WEIGHTS_NAME):
        if not (path / name).is_file():
            raise ModelError(f"{path}: not a pretrained LM folder ({name} is missing)")
    meta = read_json_object(path / META_NAME)
    try:
        options, vocab = BiLMOptions(**meta["options"]), Vocabulary.from_dict(meta["vocab"])
    except (KeyError, TypeError) as err:
        raise ModelError(f"{path / META_NAME}: not what save_bilm writes ({type(err).__name__}: {err})") from None
    try:
        state = torch.load(path / WEIGHTS_NAME, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged file
        raise ModelError(f"{path / WEIGHTS_NAME}: not a readable state_dict (truncated or corrupt?): {err}") from None
    model = build_bilm(vocab, options, vectors)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as err:
        raise ModelError(f"{path / WEIGHTS_NAME}: does not fit {path / META_NAME}: {err}") from None
    return model.eval(), vocab, options
