import unittest

from sandbox.tokenize import sentences, words


class WordsTest(unittest.TestCase):
    def test_lowercases_and_drops_punctuation(self) -> None:
        self.assertEqual(words("Hello, World!"), ["hello", "world"])

    def test_keeps_apostrophes_and_hyphens_inside_words(self) -> None:
        self.assertEqual(
            words("Don't use well-known words"), ["don't", "use", "well-known", "words"]
        )

    def test_empty_text_has_no_words(self) -> None:
        self.assertEqual(words("  ... "), [])


class SentencesTest(unittest.TestCase):
    def test_splits_on_terminal_punctuation(self) -> None:
        self.assertEqual(sentences("One. Two! Three?"), ["One.", "Two!", "Three?"])

    def test_keeps_trailing_fragment(self) -> None:
        self.assertEqual(sentences("Done. not finished"), ["Done.", "not finished"])

    def test_blank_text_has_no_sentences(self) -> None:
        self.assertEqual(sentences("   "), [])


if __name__ == "__main__":
    unittest.main()
