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
