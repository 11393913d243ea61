"""Trained generators behind one interface (:class:`Generator`): a Seq2Seq (keywords → sentence, or
continuation) and the LSTM LM, each saved as a folder of JSON + a ``state_dict`` (loaded with
``weights_only=True``) by one ``save`` and read back by one :func:`load_generator`."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from spacy.tokens import Doc

from pipeline.errors import GenerationError, GeneratorFolderError
from pipeline.models.batching import decode_ids, encode_sources
from pipeline.models.vocabulary import BOS, EOS, PAD, UNK, Vocabulary, keywords, theme_token
from pipeline.corpus.labels import DEFAULT_THEME, THEME_IDS
from pipeline.nn.decoding import (
    beam_search,
    bilm_stepper,
    greedy,
    language_model_stepper,
    no_repeat_ngrams,
    sample,
    seq2seq_stepper,
)
from pipeline.resources import read_json_object
from pipeline.models.builders import LMOptions, Seq2SeqOptions, build_language_model, build_seq2seq
from pipeline.models.pretrained_lm import BiLMOptions, build_bilm

METHODS = ("greedy", "beam", "sample")
MAX_LENGTH_LIMIT = 200
DEFAULT_NO_REPEAT_NGRAM = 2  # what the commands and the knbc_generator component block by default (measured)
SENTENCE_ENDS = frozenset("。！？!?")


def sentences(tokens: list[str]) -> list[list[str]]:
    """Split token texts into sentences after 。！？!? and at newlines (dropped, as other whitespace is)."""
    found, current = [], []
    for token in tokens:
        if "\n" in token or not token.strip():
            if "\n" in token and current:
                found.append(current)
                current = []
            continue
        current.append(token)
        if token in SENTENCE_ENDS or token[-1] in SENTENCE_ENDS:
            found.append(current)
            current = []
    return found + ([current] if current else [])


def continuation_tokens(tokens: list[str], theme: str | None, max_tokens: int | None = None) -> list[str]:
    """A continuation model's source: the theme token (when known), then the last sentence of
    ``tokens``, cut to its last tokens so that the whole fits ``max_tokens``."""
    prefix = [theme_token(theme)] if theme else []
    last = (sentences(tokens) or [[]])[-1]
    if max_tokens is not None:
        last = last[max(0, len(last) - (max_tokens - len(prefix))) :]
    return prefix + last


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
    no_repeat_ngram: int = 0  # never generate an n-gram twice (0: no blocking)

    def check(self) -> None:
        """Raise GenerationError naming the first setting out of range."""
        if self.method not in METHODS:
            raise GenerationError(f"unknown method {self.method!r}; expected one of {list(METHODS)}")
        if not 1 <= self.beam_size <= 64:
            raise GenerationError(f"beam_size must be 1..64, not {self.beam_size}")
        if not 0 <= self.no_repeat_ngram <= 10:
            raise GenerationError(f"no_repeat_ngram must be 0..10, not {self.no_repeat_ngram}")
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
    prefix: int = 0  # how many of ``tokens`` are the input's (a language model's prompt)
    attends: bool = True  # whether the model attends to its source (a Seq2Seq; its weights may still be None)

    @property
    def new_text(self) -> str:
        """The generated text alone (a language model's continuation, without its prompt)."""
        return "".join(self.tokens[self.prefix :])

    def attention_map(self) -> dict | None:
        """``{"source", "target", "weights"}`` for a model that attends (``doc._.attention``), else None."""
        return {"source": self.source, "target": self.tokens, "weights": self.attention} if self.attends else None


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
    step, state = no_repeat_ngrams(step, state, start, decoding.no_repeat_ngram)
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


class Generator:
    """What every trained generator offers (d2l / OpenNMT style), whatever its kind and task.

    - ``task``: ``"keywords"`` (content words → a sentence), ``"continuation"`` (theme token and last
      sentence → the next sentence) or ``"lm"`` (a language model continuing a prompt in a theme);
    - :meth:`source_for`: what the model reads from an input Doc;
    - :meth:`has_input`: whether a source holds anything to generate from;
    - :meth:`generate`: one :class:`Generation` from a source (``theme`` is read by a theme-conditioned LM);
    - :meth:`save` / :func:`load_generator`: one folder format, ``generator.json`` + ``model.pt``.
    """

    kind: str  # generator.json's "kind": what load_generator builds
    task: str

    def __init__(self, model, vocab: Vocabulary, options):
        self.model, self.vocab, self.options = model.eval(), vocab, options
        # the decoding chosen for this model on dev data (generator.json's "decoding"); None: Decoding()'s
        self.decoding: Decoding | None = None

    def source_for(self, doc: Doc, theme: str | None = None) -> list[str]:
        """The source tokens this generator reads from ``doc`` (``theme``: the text's theme, when known)."""
        raise NotImplementedError

    def has_input(self, source: Sequence[str]) -> bool:
        """Whether ``source`` holds anything to generate from (a theme token alone does not count)."""
        return any(not token.startswith("<") for token in source)

    def generate(self, source: Sequence[str], decoding: Decoding | None = None, *, theme: str | None = None) -> Generation:
        """One :class:`Generation` from ``source`` under ``decoding`` (default: beam search, 4 beams)."""
        raise NotImplementedError

    def _meta(self) -> dict:
        return {"kind": self.kind, "options": asdict(self.options), "vocab": self.vocab.to_dict()}

    def meta(self) -> dict:
        """What ``generator.json`` holds: the kind's own metadata, and the chosen decoding when there is one."""
        meta = self._meta()
        if self.decoding is not None:
            meta["decoding"] = asdict(self.decoding)
        return meta

    def save(self, path: str | Path) -> Path:
        """Write ``generator.json`` (kind, task, options, vocabulary) and ``model.pt`` (the state_dict)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "generator.json").write_text(json.dumps(self.meta(), ensure_ascii=False), encoding="utf-8")
        torch.save(self.model.state_dict(), path / "model.pt")
        return path


class Seq2SeqGenerator(Generator):
    """A trained Seq2Seq with its vocabulary, for ``task`` keywords or continuation."""

    kind = "seq2seq"

    def __init__(self, model, vocab: Vocabulary, options: Seq2SeqOptions, task: str):
        super().__init__(model, vocab, options)
        self.task = task

    def source_for(self, doc: Doc, theme: str | None = None) -> list[str]:
        """keywords: the Doc's content words as lemmas; continuation: the theme token (when ``theme``
        is known) and the Doc's last sentence, cut to fit ``max_source``."""
        if self.task == "keywords":
            return keywords(doc)
        return continuation_tokens([t.text for t in doc], theme, self.options.max_source)

    @torch.no_grad()
    def generate(self, source: Sequence[str], decoding: Decoding | None = None, *, theme: str | None = None) -> Generation:
        """Generate from source tokens; a source over ``max_source`` tokens is cut, with a warning.
        (``theme`` is not read: a continuation model has it in its source.)"""
        source = list(source)
        if len(source) > self.options.max_source:
            warnings.warn(f"input of {len(source)} tokens cut to the first {self.options.max_source}", stacklevel=2)
            source = source[: self.options.max_source]
        src_ids, src_ext_ids, lengths, oov = encode_sources(self.vocab, [source])
        n_oov = len(oov) if self.model.copy else 0
        step, state, start = seq2seq_stepper(self.model, src_ids, lengths, src_ext_ids, n_oov)
        ids, attention = _decode(step, state, start, self.vocab, decoding or Decoding())
        tokens = decode_ids(self.vocab, ids, oov)
        rows = None if attention is None else attention[: len(tokens)].tolist()  # one row per output token
        return Generation("".join(tokens), tokens, source, rows)

    def _meta(self) -> dict:
        return {"kind": self.kind, "task": self.task, **{k: v for k, v in super()._meta().items() if k != "kind"}}

    def save(self, path: str | Path) -> Path:
        """``generator.json`` and ``model.pt``; a model started from a pretrained LM (``options.lm_path``)
        stores its weights in fp16, as the LM does (loaded back in float32)."""
        if not getattr(self.options, "lm_path", ""):
            return super().save(path)
        return save_half(self, path)


def save_half(generator: Generator, path: str | Path) -> Path:
    """``generator.json`` (``generator.meta()``) and ``model.pt`` with the float weights stored in fp16
    (loaded back in float32)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "generator.json").write_text(json.dumps(generator.meta(), ensure_ascii=False), encoding="utf-8")
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in generator.model.state_dict().items()},
               path / "model.pt")
    return path


class LanguageModelGenerator(Generator):
    """A trained LSTM LM with its vocabulary: continues a prompt (tokens; may be empty) in a theme."""

    kind = "lm"
    task = "lm"

    def source_for(self, doc: Doc, theme: str | None = None) -> list[str]:
        """The Doc's tokens (whitespace left out): the prompt to continue."""
        return [t.text for t in doc if not t.is_space]

    def has_input(self, source: Sequence[str]) -> bool:
        """Always: a language model writes from an empty prompt too."""
        return True

    @torch.no_grad()
    def generate(self, source: Sequence[str] = (), decoding: Decoding | None = None, *, theme: str | None = None) -> Generation:
        """Continue ``source`` in ``theme`` (default :data:`DEFAULT_THEME`) until </s> or ``max_length`` tokens;
        the Generation's ``tokens`` and ``text`` start with the prompt, its ``new_text`` is the continuation."""
        theme = DEFAULT_THEME if theme is None else theme
        if self.options.themes and theme not in THEME_IDS:
            raise GenerationError(f"theme must be one of {list(THEME_IDS)}, not {theme!r}")
        prompt = list(source)
        ids = torch.tensor([[self.vocab.stoi[BOS], *self.vocab.encode(prompt)]], dtype=torch.long)  # (1, P)
        theme_ids = torch.tensor([THEME_IDS[theme]]) if self.options.themes else None
        step, state, start = language_model_stepper(self.model, ids, theme_ids)
        out, _ = _decode(step, state, start, self.vocab, decoding or Decoding())
        tokens = prompt + decode_ids(self.vocab, out, [])
        return Generation("".join(tokens), tokens, prompt, None, prefix=len(prompt), attends=False)


class PretrainedLMGenerator(Generator):
    """The forward LM of a pretrained bidirectional LM (:mod:`pipeline.models.pretrained_lm`), fine-tuned on
    KNBC, writing the sentence that follows a text: it reads the text's last sentence, then ``</s>``, and
    writes until the next ``</s>``. ``rows_by_id`` (V,) gives each word's static vector row; the static
    table itself (ja_ginza's) is passed in when the generator is loaded, not saved with it."""

    kind = "bilm"
    task = "continuation"

    def __init__(self, model, vocab: Vocabulary, options: BiLMOptions, rows_by_id: torch.Tensor):
        super().__init__(model, vocab, options)
        self.rows_by_id = rows_by_id.long()  # (V,)

    def source_for(self, doc: Doc, theme: str | None = None) -> list[str]:
        """The Doc's last sentence (whitespace left out)."""
        return (sentences([t.text for t in doc]) or [[]])[-1]

    def context_ids(self, source: Sequence[str]) -> torch.Tensor:
        """(1, P): ``</s>`` (a sentence boundary, as between sentences in training), the source, ``</s>``."""
        eos = self.vocab.stoi[EOS]
        return torch.tensor([[eos, *self.vocab.encode(list(source)), eos]], dtype=torch.long)

    @torch.no_grad()
    def generate(self, source: Sequence[str], decoding: Decoding | None = None, *, theme: str | None = None) -> Generation:
        """The sentence after ``source`` (tokens of one sentence); ``theme`` is not read."""
        source = list(source)
        step, state, start = bilm_stepper(self.model, self.context_ids(source), self.rows_by_id)
        ids, _ = _decode(step, state, start, self.vocab, decoding or Decoding())
        tokens = decode_ids(self.vocab, ids, [])
        return Generation("".join(tokens), tokens, source, None, attends=False)

    @torch.no_grad()
    def target_nll(self, source: Sequence[str], target: Sequence[str]) -> tuple[float, int]:
        """(summed NLL, count) of ``target`` and its ``</s>`` after ``source``: what its perplexity is made of."""
        context = self.context_ids(source)  # (1, P)
        target_ids = torch.tensor([[*self.vocab.encode(list(target)), self.vocab.stoi[EOS]]], dtype=torch.long)
        ids = torch.cat([context, target_ids[:, :-1]], dim=1)  # (1, P + T - 1)
        log_probs, _ = self.model.next_log_probs(self.rows_by_id[ids], ids)  # (1, P + T - 1, V)
        picked = log_probs[0, context.size(1) - 1:].gather(1, target_ids[0].unsqueeze(1))  # (T, 1)
        return float(-picked.sum()), target_ids.size(1)

    def _meta(self) -> dict:
        return {"kind": self.kind, "task": self.task, "options": asdict(self.options), "vocab": self.vocab.to_dict(),
                "rows_by_id": self.rows_by_id.tolist()}

    def save(self, path: str | Path) -> Path:
        """``generator.json`` and ``model.pt``, the weights stored in fp16 (loaded back in float32)."""
        return save_half(self, path)


KINDS = {"seq2seq": (Seq2SeqOptions, build_seq2seq), "lm": (LMOptions, build_language_model)}


def load_generator(path: str | Path, vectors: torch.Tensor | Callable[[], torch.Tensor] | None = None) -> Generator:
    """Load a generator saved by :meth:`Generator.save`; a missing, truncated or corrupt file is a
    :class:`GeneratorFolderError` naming it. A generator over a pretrained LM (kind ``bilm``) needs the
    static vector table it was trained with, ``vectors`` (rows, dim): ja_ginza's (or a function giving it,
    called only for such a generator)."""
    path = Path(path)
    for name in ("generator.json", "model.pt"):
        if not (path / name).is_file():
            raise GeneratorFolderError(f"{path}: not a generator folder ({name} is missing)")
    meta = read_json_object(path / "generator.json", GeneratorFolderError)
    decoding = _saved_decoding(path, meta)
    try:
        state = torch.load(path / "model.pt", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError, ... for a bad file
        raise GeneratorFolderError(f"{path / 'model.pt'}: not a readable state_dict (truncated or corrupt?): "
                                   f"{_first_line(err)}") from err
    if meta.get("kind") == "bilm":
        generator = _load_pretrained_lm_generator(path, meta, state, vectors)
        generator.decoding = decoding
        return generator
    try:
        vocab = Vocabulary.from_dict(meta["vocab"])
        options_class, build = KINDS["lm" if meta["kind"] == "lm" else "seq2seq"]
        options = options_class(**meta["options"])
        model = build(vocab, options)
        generator = (LanguageModelGenerator(model, vocab, options) if meta["kind"] == "lm"
                     else Seq2SeqGenerator(model, vocab, options, meta["task"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise GeneratorFolderError(f"{path / 'generator.json'}: not what a generator saves "
                                   f"({type(err).__name__}: {_first_line(err)})") from err
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})  # fp16 too
    except (RuntimeError, TypeError, AttributeError) as err:
        raise GeneratorFolderError(f"{path / 'model.pt'}: does not fit {path / 'generator.json'}: "
                                   f"{_first_line(err)}") from err
    generator.decoding = decoding
    return generator


def _saved_decoding(path: Path, meta: dict) -> Decoding | None:
    """The decoding ``generator.json`` records (None when it records none); one out of range is an error."""
    if meta.get("decoding") is None:
        return None
    try:
        decoding = Decoding(**meta["decoding"])
        decoding.check()
    except (TypeError, GenerationError) as err:
        raise GeneratorFolderError(f"{path / 'generator.json'}: its \"decoding\" is not a valid decoding: "
                                   f"{_first_line(err)}") from err
    return decoding


def _load_pretrained_lm_generator(path: Path, meta: dict, state: dict,
                                  vectors) -> PretrainedLMGenerator:
    if callable(vectors):
        vectors = vectors()
    if vectors is None:
        raise GeneratorFolderError(f"{path}: a generator over a pretrained LM needs the static vectors it was "
                                   "trained with (load it through pipeline.load, or pass vectors=)")
    try:
        vocab, options = Vocabulary.from_dict(meta["vocab"]), BiLMOptions(**meta["options"])
        rows_by_id = torch.tensor(meta["rows_by_id"], dtype=torch.long)
    except (KeyError, TypeError, ValueError) as err:
        raise GeneratorFolderError(f"{path / 'generator.json'}: not what a generator saves "
                                   f"({type(err).__name__}: {_first_line(err)})") from err
    model = build_bilm(vocab, options, vectors)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (RuntimeError, TypeError, AttributeError) as err:
        raise GeneratorFolderError(f"{path / 'model.pt'}: does not fit {path / 'generator.json'}: "
                                   f"{_first_line(err)}") from err
    return PretrainedLMGenerator(model.eval(), vocab, options, rows_by_id)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0]
