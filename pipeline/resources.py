"""Where the shipped data lives: the default pipeline, the keywords generator and the KNB corpus.

In a checkout (an editable install, or the repository on ``sys.path``) they are the repository's own
folders, ``models/...`` and ``corpora/knbc``. A package installed with ``pip install .`` carries a
copy of :data:`SHIPPED` under ``pipeline/_shipped/`` (setup.py puts it there), so that
``pipeline.load()``, ``knbc classify`` / ``knbc generate`` and ``shipped_corpus()`` work from any
directory. Nothing here imports spaCy or torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.errors import ModelError

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_DIR = PACKAGE_DIR.parent  # the repository root, when the package runs from a checkout
INSTALLED_DIR = PACKAGE_DIR / "_shipped"  # the copy a built package carries
# what a built package carries (setup.py copies them, following symlinks)
SHIPPED = ("models/knbc", "models/generator-keywords", "corpora/knbc", "corpora/livedoor")


def in_checkout() -> bool:
    """True when the package runs from the repository (its pyproject.toml next to the package)."""
    return (CHECKOUT_DIR / "pyproject.toml").is_file() and (CHECKOUT_DIR / "models").is_dir()


def shipped_path(relative: str) -> Path:
    """The path of ``relative`` (e.g. ``"models/knbc"``): in the checkout when the package runs from
    one, else in the installed package's copy. A path that exists in neither is returned as it would
    be in the checkout, for the caller's error message to name."""
    if in_checkout() or not (INSTALLED_DIR / relative).exists():
        return CHECKOUT_DIR / relative
    return INSTALLED_DIR / relative


def read_json_object(path: Path, error: type[Exception] | None = None) -> dict:
    """A JSON object from ``path``; ``error`` (default :class:`ModelError`) naming the file if it is not one."""
    error = error or ModelError
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"{path}: not valid JSON (truncated or corrupt?): {err}") from None
    if not isinstance(value, dict):
        raise error(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value
