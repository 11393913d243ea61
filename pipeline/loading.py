"""Saving and loading trained pipelines, with checks that say what is wrong with a model folder."""

from __future__ import annotations

import json
from pathlib import Path

import spacy
from spacy.language import Language

from pipeline import __version__
from pipeline.errors import KnbcError
from pipeline.resources import shipped_path

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_PIPELINE = shipped_path("models/knbc")  # in the checkout, or the installed package's copy
META_KEY = "knbc_pipeline"


class ModelError(KnbcError):
    """A model folder that is missing, incomplete, or made by an incompatible version."""


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
    meta = _read_json(path / "meta.json")
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
    factories = _factories(path / "config.cfg")
    for name in meta.get("pipeline", []):
        _check_component_files(path / name, trained="textcat" in factories.get(name, ""))
    return meta


def _factories(config_path: Path) -> dict[str, str]:
    """``{component name: factory}`` from a pipeline's config.cfg; :class:`ModelError` if it cannot be read."""
    try:
        components = spacy.util.load_config(config_path, interpolate=False).get("components", {})
        return {name: str(settings.get("factory", "")) for name, settings in components.items()}
    except Exception as err:  # noqa: BLE001 - configparser and confection raise many kinds for a damaged file
        raise ModelError(f"{config_path}: not a readable spaCy config (truncated or corrupt?): {err}") from None


def _read_json(path: Path) -> dict:
    """A JSON object from ``path``; :class:`ModelError` naming the file if it is not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: not valid JSON (truncated or corrupt?): {err}") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def _check_component_files(folder: Path, trained: bool) -> None:
    """Raise :class:`ModelError` naming a component's weights or settings file that is missing, truncated
    or corrupt (spaCy's own errors, FileNotFoundError or msgpack's "Unpack failed", name no file).
    A trained classifier's folder holds ``cfg`` and ``model`` (msgpack); other components' files are
    checked where they are; a generator's when it loads (``generator.json``, ``model.pt``)."""
    import srsly

    for name in ("cfg", "model"):
        if trained and not (folder / name).is_file():
            raise ModelError(f"{folder}: incomplete model folder, {name} is missing")
    if (folder / "cfg").is_file():
        _read_json(folder / "cfg")
    if not (folder / "model").is_file():
        return
    try:
        weights = srsly.msgpack_loads((folder / "model").read_bytes())
    except Exception as err:  # noqa: BLE001 - msgpack raises ValueError, ExtraData, ... for a damaged file
        raise ModelError(f"{folder / 'model'}: not readable weights (truncated or corrupt?): {err}") from None
    if not isinstance(weights, dict):
        raise ModelError(f"{folder / 'model'}: not readable weights (expected a msgpack map)")


def save_pipeline(nlp: Language, path: str | Path, **info) -> Path:
    """``nlp.to_disk(path)`` with this package's version (and ``info``) recorded in meta.json."""
    nlp.meta[META_KEY] = {"version": __version__, **info}
    nlp.meta.setdefault("requirements", [])
    major, minor = __version__.split(".")[:2]
    requirement = f"knbc-pipeline>={__version__},<{major}.{int(minor) + 1}"  # check_model_dir wants the same minor
    nlp.meta["requirements"] = [r for r in nlp.meta["requirements"] if not r.startswith("knbc-pipeline")]
    nlp.meta["requirements"].append(requirement)
    path = Path(path)
    nlp.to_disk(path)
    return path


def load(path: str | Path = DEFAULT_PIPELINE, full_ginza: bool = False) -> Language:
    """Load a trained pipeline: GiNZA's tokenizer and our components (theme, sentiment, continuation).

    With ``full_ginza`` the pipeline is ja_ginza's whole pipeline (parser, NER, ... about 50x
    slower) with our components added after it.
    """
    meta = check_model_dir(path)
    nlp = spacy.load(path)
    if not full_ginza:
        return nlp
    from pipeline.tokenizer import use_chunking_tokenizer

    full = spacy.load("ja_ginza")
    use_chunking_tokenizer(full)  # ja_ginza's own tokenizer refuses texts over SudachiPy's byte limit
    for name in meta["pipeline"]:
        full.add_pipe(name, source=nlp)
    return full
