"""GiNZA's tokenizer (SudachiPy, split mode C) without SudachiPy's input limit.

SudachiPy refuses input over 49,149 bytes. ``knbc.JapaneseTokenizer.v1`` cuts such a text into
pieces under the limit, at the last sentence end (。！？ or a newline) before it where there is
one, tokenizes each piece and joins the Docs, so no text is refused and none of it is lost.
"""

from __future__ import annotations

import re
from typing import Optional

from spacy.lang.ja import Japanese, JapaneseTokenizer
from spacy.tokens import Doc
from spacy.util import registry

from pipeline.errors import TextInputError

SUDACHI_MAX_BYTES = 49149
_SENTENCE_END = re.compile(r"[。．！？!?\n]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def split_for_sudachi(text: str, max_bytes: int = SUDACHI_MAX_BYTES) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes, preferring sentence ends."""
    pieces = []
    while len(text.encode("utf-8")) > max_bytes:
        head = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")  # whole characters only
        ends = [m.end() for m in _SENTENCE_END.finditer(head)]
        cut = ends[-1] if ends and ends[-1] > len(head) // 2 else len(head)
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return pieces


def check_text(text) -> None:
    """Raise :class:`~pipeline.errors.TextInputError` unless ``text`` is a ``str`` that UTF-8 can encode
    (SudachiPy's own error for a lone surrogate is a UnicodeEncodeError from deep inside spaCy)."""
    if not isinstance(text, str):
        raise TextInputError(f"expected the text as a str, not {type(text).__name__}"
                             + ("; decode bytes first, e.g. data.decode('utf-8')" if isinstance(text, (bytes, bytearray)) else ""))
    found = _SURROGATE.search(text)
    if found:
        raise TextInputError(f"the text holds a lone surrogate {found.group()!r} at character {found.start()}: not a "
                             "character, UTF-8 cannot encode it (decode the input with errors='replace', or fix it)")


class ChunkingJapaneseTokenizer(JapaneseTokenizer):
    """spaCy's JapaneseTokenizer that splits over-long texts (see the module docstring)."""

    max_bytes = SUDACHI_MAX_BYTES

    def __reduce__(self):
        return ChunkingJapaneseTokenizer, (self.vocab, self.split_mode)

    def __call__(self, text: str) -> Doc:
        """Tokenize ``text``; a text over the byte limit is tokenized in pieces and joined."""
        check_text(text)
        if len(text) * 3 <= self.max_bytes or len(text.encode("utf-8")) <= self.max_bytes:
            return super().__call__(text)
        docs = [super(ChunkingJapaneseTokenizer, self).__call__(piece) for piece in split_for_sudachi(text, self.max_bytes)]
        sub_tokens = [sub for doc in docs for sub in doc.user_data.pop("sub_tokens", [None] * len(doc))]
        joined = Doc.from_docs(docs, ensure_whitespace=False)
        joined.user_data["sub_tokens"] = sub_tokens  # GiNZA's per-token split-mode A/B analyses
        return joined


class CheckedJapanese(Japanese):
    """spaCy's Japanese, except that ``nlp(bytes)`` that are not a serialized Doc is a :class:`TextInputError`
    (spaCy reads any bytes as ``Doc.to_bytes()`` output; text given as bytes failed in msgpack)."""

    def _ensure_doc(self, doc_like):
        if not isinstance(doc_like, bytes):
            return super()._ensure_doc(doc_like)
        try:
            return super()._ensure_doc(doc_like)
        except Exception as err:  # noqa: BLE001 - msgpack and spaCy raise many kinds for bytes that are no Doc
            raise TextInputError(f"got {len(doc_like)} bytes that are not a serialized Doc (Doc.to_bytes()); pass "
                                 "text as a str, e.g. data.decode('utf-8')") from err


def use_chunking_tokenizer(nlp) -> None:
    """Give ``nlp`` (e.g. ja_ginza's full pipeline, whose own tokenizer refuses long texts) this module's
    tokenizer, with the split mode it had, and :class:`CheckedJapanese`'s input check."""
    if type(nlp) is Japanese:
        nlp.__class__ = CheckedJapanese
    nlp.tokenizer = ChunkingJapaneseTokenizer(nlp.vocab, split_mode=getattr(nlp.tokenizer, "split_mode", "C"))


@registry.tokenizers("knbc.JapaneseTokenizer.v1")
def create_tokenizer(split_mode: Optional[str] = "C"):
    """Registered tokenizer factory: GiNZA's settings (split mode C), no input-length limit; the pipeline
    becomes a :class:`CheckedJapanese` (a clear error for bytes that are not a Doc)."""

    def tokenizer_factory(nlp):
        if type(nlp) is Japanese:
            nlp.__class__ = CheckedJapanese
        return ChunkingJapaneseTokenizer(nlp.vocab, split_mode=split_mode)

    return tokenizer_factory
