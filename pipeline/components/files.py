"""Checks of a saved component's files that name the damaged file (spaCy's own errors name none)."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ModelError
from pipeline.resources import read_json_object


def check_component_files(folder: Path, trained: bool) -> None:
    """Raise :class:`ModelError` naming a component's weights or settings file that is missing, truncated
    or corrupt (spaCy's own errors, FileNotFoundError or msgpack's "Unpack failed", name no file).
    A trained classifier's folder holds ``cfg`` and ``model`` (msgpack); other components' files are
    checked where they are; a generator's when it loads (``generator.json``, ``model.pt``)."""
    import srsly

    for name in ("cfg", "model"):
        if trained and not (folder / name).is_file():
            raise ModelError(f"{folder}: incomplete model folder, {name} is missing")
    if (folder / "cfg").is_file():
        read_json_object(folder / "cfg")
    if not (folder / "model").is_file():
        return
    try:
        weights = srsly.msgpack_loads((folder / "model").read_bytes())
    except Exception as err:  # noqa: BLE001 - msgpack raises ValueError, ExtraData, ... for a damaged file
        raise ModelError(f"{folder / 'model'}: not readable weights (truncated or corrupt?): {err}") from None
    if not isinstance(weights, dict):
        raise ModelError(f"{folder / 'model'}: not readable weights (expected a msgpack map)")
