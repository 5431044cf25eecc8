import unittest

from sandbox.stats import average_word_length, most_common, reading_time_minutes, word_count


class StatsTest(unittest.TestCase):
    def test_word_count(self) -> None:
        self.assertEqual(word_count("The cat sat. The cat ran!"), 6)

    def test_most_common_breaks_ties_alphabetically(self) -> None:
        self.assertEqual(most_common("The cat sat. The cat ran!", 2), [("cat", 2), ("the", 2)])

    def test_most_common_rejects_negative_n(self) -> None:
        with self.assertRaises(ValueError):
            most_common("a", -1)

    def test_average_word_length(self) -> None:
        self.assertEqual(average_word_length("ab abcd"), 3.0)
        self.assertEqual(average_word_length(""), 0.0)

    def test_reading_time(self) -> None:
        self.assertEqual(reading_time_minutes("word " * 400), 2.0)
        with self.assertRaises(ValueError):
            reading_time_minutes("word", words_per_minute=0)


if __name__ == "__main__":
    unittest.main()
