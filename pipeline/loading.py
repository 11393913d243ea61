"""Saving and loading trained pipelines, with checks that say what is wrong with a model folder."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import spacy
from spacy.language import Language

from pipeline.version import __version__
from pipeline.errors import ModelError, SettingError
from pipeline.resources import read_json_object, shipped_path

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_PIPELINE = shipped_path("models/knbc")  # in the checkout, or the installed package's copy
META_KEY = "knbc_pipeline"
VECTORS_PIPE = "knbc_vectors"  # the name load() gives the vectors component it adds
SENTENCES_PIPE = "knbc_sentences"  # the name load() gives the sentence splitter it adds
SENTENCE_SETTERS = frozenset({"knbc_sentences", "parser", "senter", "sentencizer"})  # factories that set sentence starts
TORCH_THREADS_ENV = "KNBC_TORCH_THREADS"
DEFAULT_TORCH_THREADS = 1
CLASSIFIER_FACTORIES = frozenset({"knbc_textcat", "textcat", "textcat_multilabel"})  # components that write doc.cats
GENERATOR_FACTORY = "knbc_generator"
TAGGER_FACTORY = "knbc_tagger"  # components that write spans (doc.ents or doc.spans[key])


def is_classifier_factory(factory: str) -> bool:
    """Whether a component made by ``factory`` is a text classifier (writes ``doc.cats`` over its ``labels``)."""
    return factory in CLASSIFIER_FACTORIES


def classifier_names(nlp: Language) -> list[str]:
    """The names of ``nlp``'s enabled text classifiers, in pipeline order."""
    return [name for name in nlp.pipe_names if is_classifier_factory(nlp.get_pipe_meta(name).factory)]


def tagger_names(nlp: Language) -> list[str]:
    """The names of ``nlp``'s enabled span taggers (``knbc_tagger``), in pipeline order."""
    return [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == TAGGER_FACTORY]


def doc_spans(doc, taggers: dict) -> dict[str, list[dict]]:
    """``{tagger name: [{"start", "end", "label", "text"}, ...]}``: each tagger's spans (character offsets) as
    ``doc.ents`` or ``doc.spans[key]`` hold them (``taggers``: name -> spans_key, None for doc.ents)."""
    found = {}
    for name, key in taggers.items():
        spans = doc.ents if key is None else (doc.spans[key] if key in doc.spans else [])
        found[name] = [{"start": s.start_char, "end": s.end_char, "label": s.label_, "text": s.text} for s in spans]
    return found


def generator_names(nlp: Language) -> list[str]:
    """The names of ``nlp``'s enabled generator components, in pipeline order."""
    return [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == GENERATOR_FACTORY]



def _compatible(saved: str) -> bool:
    return saved.split(".")[:2] == __version__.split(".")[:2]


def check_model_dir(path: str | Path) -> dict:
    """Check that ``path`` holds a complete pipeline saved by this package; return its meta."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: no such model folder (train one with `knbc train`, see the README)")
    for required in ("config.cfg", "meta.json", "tokenizer"):
        if not (path / required).exists():
            raise ModelError(f"{path}: incomplete model folder, {required} is missing")
    meta = read_json_object(path / "meta.json")
    info = meta.get(META_KEY)
    if info is None:
        raise ModelError(f"{path}: not a knbc-pipeline model (meta.json has no {META_KEY!r} entry)")
    if not _compatible(info.get("version", "")):
        raise ModelError(
            f"{path}: made by knbc-pipeline {info.get('version')}, this is {__version__}; retrain it with `knbc train`"
        )
    missing = [name for name in meta.get("pipeline", []) if not (path / name).is_dir()]
    if missing:
        raise ModelError(f"{path}: incomplete model folder, component folder(s) {missing} missing")
    _factories(path / "config.cfg")  # a readable config; each component names its own damaged files when it loads
    return meta


def _factories(config_path: Path) -> dict[str, str]:
    """``{component name: factory}`` from a pipeline's config.cfg; :class:`ModelError` if it cannot be read."""
    try:
        components = spacy.util.load_config(config_path, interpolate=False).get("components", {})
        return {name: str(settings.get("factory", "")) for name, settings in components.items()}
    except Exception as err:  # noqa: BLE001 - configparser and confection raise many kinds for a damaged file
        raise ModelError(f"{config_path}: not a readable spaCy config (truncated or corrupt?): {err}") from None


def save_pipeline(nlp: Language, path: str | Path, **info) -> Path:
    """``nlp.to_disk(path)`` with this package's version (and ``info``) recorded in meta.json."""
    nlp.meta[META_KEY] = {"version": __version__, **info}
    nlp.meta.setdefault("requirements", [])
    major, minor = __version__.split(".")[:2]
    requirement = f"knbc-pipeline>={__version__},<{major}.{int(minor) + 1}"  # check_model_dir wants the same minor
    nlp.meta["requirements"] = [r for r in nlp.meta["requirements"] if not r.startswith("knbc-pipeline")]
    nlp.meta["requirements"].append(requirement)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)  # spaCy makes the folder, not its missing parents
    nlp.to_disk(path)
    return path


def torch_threads_setting(torch_threads: int | None = None) -> int:
    """The torch thread count :func:`load` sets: ``torch_threads``, else $KNBC_TORCH_THREADS, else 1;
    0 leaves torch as it is (as does an unset KNBC_TORCH_THREADS when OMP_NUM_THREADS is set)."""
    if torch_threads is None:
        setting = os.environ.get(TORCH_THREADS_ENV, "").strip()
        if not setting:
            return 0 if os.environ.get("OMP_NUM_THREADS") else DEFAULT_TORCH_THREADS
        try:
            torch_threads = int(setting)
        except ValueError:
            raise SettingError(f"{TORCH_THREADS_ENV}={setting!r}: expected a whole number of threads (0: torch's default)") from None
    if torch_threads < 0:
        raise SettingError(f"torch_threads must be >= 0 (0: torch's default), not {torch_threads}")
    return torch_threads


def set_torch_threads(torch_threads: int | None = None) -> int:
    """``torch.set_num_threads`` with :func:`torch_threads_setting`'s count (nothing for 0); returns the count."""
    threads = torch_threads_setting(torch_threads)
    if threads:
        import torch

        torch.set_num_threads(threads)
    return threads


def _add_vectors(nlp: Language, exclude: Iterable[str], disable: Iterable[str]) -> None:
    """Put ``knbc_vectors`` (ja_ginza vectors on every Doc, see components/vectors.py) first, unless the
    pipeline has it already or it is excluded; disabled when ``disable`` names it."""
    import pipeline.components  # noqa: F401  (registers the factory)

    factories = {nlp.get_pipe_meta(name).factory for name in nlp.component_names}
    if VECTORS_PIPE in exclude or "knbc_vectors" in factories:
        return
    nlp.add_pipe("knbc_vectors", name=VECTORS_PIPE, first=True)
    if VECTORS_PIPE in disable:
        nlp.disable_pipe(VECTORS_PIPE)


def _add_sentences(nlp: Language, exclude: Iterable[str], disable: Iterable[str]) -> None:
    """Put ``knbc_sentences`` (sentence starts on every Doc, see components/sentences.py) right after
    ``knbc_vectors`` (first without it), unless the pipeline already sets sentence starts (it has the splitter,
    or GiNZA's parser) or it is excluded; disabled when ``disable`` names it."""
    import pipeline.components  # noqa: F401  (registers the factory)

    factories = {nlp.get_pipe_meta(name).factory for name in nlp.component_names}
    if SENTENCES_PIPE in exclude or factories & SENTENCE_SETTERS:
        return
    vectors = [name for name in nlp.component_names if nlp.get_pipe_meta(name).factory == "knbc_vectors"]
    where = {"after": vectors[0]} if vectors and vectors[0] in nlp.pipe_names else {"first": True}
    nlp.add_pipe("knbc_sentences", name=SENTENCES_PIPE, **where)
    if SENTENCES_PIPE in disable:
        nlp.disable_pipe(SENTENCES_PIPE)


def load(path: str | Path = DEFAULT_PIPELINE, *, exclude: Iterable[str] = (), disable: Iterable[str] = (),
         full_ginza: bool = False, torch_threads: int | None = None) -> Language:
    """Load a trained pipeline: ja_ginza's vectors on the Doc (``knbc_vectors``), sentence starts
    (``knbc_sentences``: ``doc.sents``), GiNZA's tokenizer and our components (theme, sentiment, continuation).
    A saved pipeline without the splitter gets it here (right after ``knbc_vectors``); with ``full_ginza``
    GiNZA's parser sets the sentences instead.

    ``exclude`` and ``disable`` are ``spacy.load``'s: excluded pipes are not loaded, disabled ones are
    loaded but do not run until ``nlp.enable_pipe``. With ``full_ginza`` the pipeline is ja_ginza's
    whole pipeline (parser, NER, ... about 50x slower) with our components added after it; one whose name
    ja_ginza's pipeline has already gets the prefix ``knbc_`` (our NE tagger runs as ``knbc_ner`` after
    GiNZA's ``ner``, so ``doc.ents`` holds our IREX entities; ``disable=["knbc_ner"]`` leaves GiNZA's).

    ``torch_threads`` (default: $KNBC_TORCH_THREADS, else 1) is passed to ``torch.set_num_threads``:
    one thread is the fastest for these small recurrent networks and stays fast when other processes
    share the cores; 0 leaves torch's own setting.
    """
    set_torch_threads(torch_threads)
    exclude, disable = list(_names(exclude)), list(_names(disable))
    check_model_dir(path)
    nlp = spacy.load(path, exclude=exclude, disable=disable)
    if full_ginza:
        from pipeline.tokenizer import use_chunking_tokenizer

        full = spacy.load("ja_ginza", exclude=exclude, disable=disable)
        use_chunking_tokenizer(full)  # ja_ginza's own tokenizer refuses texts over SudachiPy's byte limit
        for name in nlp.component_names:
            # a name ja_ginza's pipeline has already (our NE tagger "ner") gets the prefix "knbc_"
            as_name = f"knbc_{name}" if name in full.component_names else name
            full.add_pipe(name, name=as_name, source=nlp)
            if name in disable:
                full.disable_pipe(as_name)
        nlp = full
    _add_vectors(nlp, exclude, disable)
    _add_sentences(nlp, exclude, disable)
    return nlp


def _names(names: str | Iterable[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)
