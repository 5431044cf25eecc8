"""Small text statistics: words, sentences, frequencies and reading time."""

from sandbox.stats import average_word_length, most_common, reading_time_minutes, word_count
from sandbox.tokenize import sentences, words

__all__ = [
    "average_word_length",
    "most_common",
    "reading_time_minutes",
    "sentences",
    "word_count",
    "words",
]
