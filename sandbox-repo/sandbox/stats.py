"""Counts and averages over the words of a text."""

from __future__ import annotations

from collections import Counter

from sandbox.tokenize import words

# Adult silent reading speed commonly quoted in readability guides.
WORDS_PER_MINUTE = 200


def word_count(text: str) -> int:
    """Return how many words ``text`` contains."""
    return len(words(text))


def most_common(text: str, n: int) -> list[tuple[str, int]]:
    """Return the ``n`` most frequent words with their counts.

    Ties are broken alphabetically so the result does not depend on word order.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    counts = Counter(words(text))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:n]


def average_word_length(text: str) -> float:
    """Return the mean word length in characters, or 0.0 for a text without words."""
    found = words(text)
    if not found:
        return 0.0
    return sum(len(word) for word in found) / len(found)


def reading_time_minutes(text: str, words_per_minute: int = WORDS_PER_MINUTE) -> float:
    """Return the estimated reading time of ``text`` in minutes."""
    if words_per_minute <= 0:
        raise ValueError(f"words_per_minute must be > 0, got {words_per_minute}")
    return word_count(text) / words_per_minute
