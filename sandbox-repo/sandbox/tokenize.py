"""Split text into words and sentences."""

from __future__ import annotations

import re

# A word is a run of letters or digits, optionally joined by inner apostrophes or
# hyphens, so "don't" and "well-known" each count once.
_WORD = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
# A sentence ends at ., ! or ? followed by whitespace or the end of the text.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def words(text: str) -> list[str]:
    """Return the words of ``text`` in order, lower-cased."""
    return [match.group(0).lower() for match in _WORD.finditer(text)]


def sentences(text: str) -> list[str]:
    """Return the non-empty sentences of ``text``, stripped of surrounding space."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]
