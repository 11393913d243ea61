"""Trained generators for direct use: a Seq2Seq (keywords → sentence, or continuation) and the LSTM LM,
each saved as a folder of JSON + a ``state_dict`` (loaded with ``weights_only=True``)."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch

from pipeline.errors import GenerationError, GeneratorFolderError
from pipeline.models.batching import decode_ids, encode_sources
from pipeline.models.vocabulary import BOS, EOS, PAD, UNK, Vocabulary
from pipeline.corpus.labels import THEME_IDS
from pipeline.nn.decoding import beam_search, greedy, language_model_stepper, sample, seq2seq_stepper
from pipeline.resources import read_json_object
from pipeline.models.builders import LMOptions, Seq2SeqOptions, build_language_model, build_seq2seq

METHODS = ("greedy", "beam", "sample")
MAX_LENGTH_LIMIT = 200


@dataclass
class Decoding:
    """How to decode: ``method`` greedy | beam | sample, and its settings."""

    method: str = "beam"
    beam_size: int = 4
    max_length: int = 60
    length_penalty: float = 0.6
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    def check(self) -> None:
        """Raise GenerationError naming the first setting out of range."""
        if self.method not in METHODS:
            raise GenerationError(f"unknown method {self.method!r}; expected one of {list(METHODS)}")
        if not 1 <= self.beam_size <= 64:
            raise GenerationError(f"beam_size must be 1..64, not {self.beam_size}")
        if not 1 <= self.max_length <= MAX_LENGTH_LIMIT:
            raise GenerationError(f"max_length must be 1..{MAX_LENGTH_LIMIT}, not {self.max_length}")
        if self.temperature <= 0 or self.top_k < 0 or not 0 < self.top_p <= 1 or self.length_penalty < 0:
            raise GenerationError(
                "need temperature > 0, top_k >= 0, 0 < top_p <= 1 and length_penalty >= 0, not "
                f"{self.temperature}, {self.top_k}, {self.top_p}, {self.length_penalty}"
            )


@dataclass
class Generation:
    """One generated text with the tokens it came from and, for Seq2Seq, its attention (T, S)."""

    text: str
    tokens: list[str]
    source: list[str]
    attention: list[list[float]] | None


def _without_specials(step, banned: Sequence[int]):
    """``step`` with the ids in ``banned`` (<pad>, <unk>, <s>) made impossible to generate."""

    def wrapped(prev_ids, state):
        log_probs, state, attention = step(prev_ids, state)
        log_probs = log_probs.clone()
        log_probs[:, list(banned)] = float("-inf")  # (B, V_ext)
        return log_probs, state, attention

    return wrapped


def _decode(step, state, start, vocab: Vocabulary, decoding: Decoding):
    """(ids, attention (T, S) or None) of the single best sequence under ``decoding``.

    <pad>, <unk> and <s> are never generated: an unknown word comes out by copying, or not at all.
    """
    decoding.check()
    step = _without_specials(step, [vocab.stoi[t] for t in (PAD, UNK, BOS)])
    eos_id = vocab.stoi[EOS]
    if decoding.method == "beam":
        best = beam_search(step, state, start, eos_id, decoding.beam_size, decoding.max_length, alpha=decoding.length_penalty)[0]
        return best.tokens, best.attention
    if decoding.method == "greedy":
        out = greedy(step, state, start, eos_id, decoding.max_length)
    else:
        generator = torch.Generator().manual_seed(decoding.seed)
        out = sample(step, state, start, eos_id, decoding.max_length, decoding.temperature, decoding.top_k,
                     decoding.top_p, generator=generator)
    length = int(out.lengths[0])
    return out.tokens[0, :length].tolist(), None if out.attention is None else out.attention[0, :length]


class Seq2SeqGenerator:
    """A trained Seq2Seq with its vocabulary: ``generate(source_tokens)`` → :class:`Generation`."""

    def __init__(self, model, vocab: Vocabulary, options: Seq2SeqOptions, task: str):
        self.model, self.vocab, self.options, self.task = model.eval(), vocab, options, task

    @torch.no_grad()
    def generate(self, source: Sequence[str], decoding: Decoding = Decoding()) -> Generation:
        """Generate from source tokens; a source over ``max_source`` tokens is cut, with a warning."""
        source = list(source)
        if len(source) > self.options.max_source:
            warnings.warn(f"input of {len(source)} tokens cut to the first {self.options.max_source}", stacklevel=2)
            source = source[: self.options.max_source]
        src_ids, src_ext_ids, lengths, oov = encode_sources(self.vocab, [source])
        n_oov = len(oov) if self.model.copy else 0
        step, state, start = seq2seq_stepper(self.model, src_ids, lengths, src_ext_ids, n_oov)
        ids, attention = _decode(step, state, start, self.vocab, decoding)
        tokens = decode_ids(self.vocab, ids, oov)
        rows = None if attention is None else attention[: len(tokens)].tolist()  # one row per output token
        return Generation("".join(tokens), tokens, source, rows)

    def save(self, path: str | Path) -> Path:
        """Write ``generator.json`` (task, options, vocabulary) and ``model.pt`` (the state_dict)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"kind": "seq2seq", "task": self.task, "options": asdict(self.options), "vocab": self.vocab.to_dict()}
        (path / "generator.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        torch.save(self.model.state_dict(), path / "model.pt")
        return path


class LanguageModelGenerator:
    """A trained LSTM LM with its vocabulary: ``generate(prompt_tokens, theme)`` → :class:`Generation`."""

    def __init__(self, model, vocab: Vocabulary, options: LMOptions):
        self.model, self.vocab, self.options = model.eval(), vocab, options

    @torch.no_grad()
    def generate(self, prompt: Sequence[str] = (), theme: str | None = None, decoding: Decoding = Decoding()) -> Generation:
        """Continue ``prompt`` (tokens; may be empty) in ``theme`` until </s> or ``max_length`` tokens."""
        if self.options.themes and theme not in THEME_IDS:
            raise GenerationError(f"theme must be one of {list(THEME_IDS)}, not {theme!r}")
        ids = torch.tensor([[self.vocab.stoi[BOS], *self.vocab.encode(list(prompt))]], dtype=torch.long)  # (1, P)
        theme_ids = torch.tensor([THEME_IDS[theme]]) if self.options.themes else None
        step, state, start = language_model_stepper(self.model, ids, theme_ids)
        out, _ = _decode(step, state, start, self.vocab, decoding)
        tokens = list(prompt) + decode_ids(self.vocab, out, [])
        return Generation("".join(tokens), tokens, list(prompt), None)

    def save(self, path: str | Path) -> Path:
        """Write ``generator.json`` (options, vocabulary) and ``model.pt`` (the state_dict)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"kind": "lm", "options": asdict(self.options), "vocab": self.vocab.to_dict()}
        (path / "generator.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        torch.save(self.model.state_dict(), path / "model.pt")
        return path


def load_generator(path: str | Path) -> Seq2SeqGenerator | LanguageModelGenerator:
    """Load a generator saved by ``save``; a missing, truncated or corrupt file is a
    :class:`GeneratorFolderError` naming it."""
    path = Path(path)
    for name in ("generator.json", "model.pt"):
        if not (path / name).is_file():
            raise GeneratorFolderError(f"{path}: not a generator folder ({name} is missing)")
    meta = read_json_object(path / "generator.json", GeneratorFolderError)
    try:
        state = torch.load(path / "model.pt", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError, ... for a bad file
        raise GeneratorFolderError(f"{path / 'model.pt'}: not a readable state_dict (truncated or corrupt?): "
                                   f"{_first_line(err)}") from err
    try:
        vocab = Vocabulary.from_dict(meta["vocab"])
        if meta["kind"] == "lm":
            options = LMOptions(**meta["options"])
            model = build_language_model(vocab, options)
        else:
            options = Seq2SeqOptions(**meta["options"])
            model = build_seq2seq(vocab, options)
            task = meta["task"]
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise GeneratorFolderError(f"{path / 'generator.json'}: not what a generator saves "
                                   f"({type(err).__name__}: {_first_line(err)})") from err
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise GeneratorFolderError(f"{path / 'model.pt'}: does not fit {path / 'generator.json'}: "
                                   f"{_first_line(err)}") from err
    return LanguageModelGenerator(model, vocab, options) if meta["kind"] == "lm" else Seq2SeqGenerator(model, vocab, options, task)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0]
