"""Errors that name what was wrong and where."""

from __future__ import annotations


class KnbcError(Exception):
    """Base class of every error this package raises on purpose."""


class CorpusFormatError(KnbcError, ValueError):
    """A corpus file does not follow its format: names the file, the line and what was expected."""

    def __init__(self, path: str, line: int | None, message: str):
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class CorpusNotFoundError(KnbcError, FileNotFoundError):
    """The corpus archive or folder is missing."""


class ChecksumError(KnbcError):
    """A corpus file's SHA-256 does not match the sum shipped with it."""


class UsageError(KnbcError, ValueError):
    """A command-line option or argument out of range or unknown (a ``ValueError`` too, for older callers)."""


class TextInputError(KnbcError, ValueError):
    """A text the tokenizer cannot take: not a ``str``, or holding a lone surrogate (no UTF-8 for it)."""


class ModelError(KnbcError):
    """A model folder that is missing, incomplete, or made by an incompatible version."""


class SettingError(KnbcError, ValueError):
    """A loading setting (an argument or environment variable) out of range."""


class DataError(KnbcError, ValueError):
    """User training data that cannot be read: names the file, the line or row, and what was expected."""


class UnknownWordError(KnbcError, ValueError):
    """A word that finds no vector by its text, lemma or norm."""


class VectorsMismatchError(KnbcError):
    """A model trained with other static vectors than the ones installed."""


class GenerationError(KnbcError, ValueError):
    """Generation settings or inputs out of range."""


class GeneratorFolderError(ModelError, GenerationError):
    """A generator folder with a file missing, truncated or corrupt: names the file (a ``ModelError``,
    and a ``GenerationError`` as before)."""


class InputError(KnbcError):
    """An input argument that cannot be read at all (no such path, unknown type): the run does not start."""


class OutputError(KnbcError):
    """An output that exists (without --overwrite / --resume), a resume that does not match, a bad format."""


class EngineError(KnbcError):
    """An engine that cannot start (e.g. no Dask scheduler at the address given)."""
