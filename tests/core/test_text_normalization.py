import pytest

from edge.core.text.normalize import normalize_utterance
from edge.core.text.numbers import decimal_to_words, int_to_words


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("What is 2 to the power of 20 plus 20 squared plus 20?", "what is two to the power of twenty plus twenty squared plus twenty"),
        ("Wake me at 7:30 a.m.!", "wake me at seven thirty am"),
        ("Wake me up at 6.30 in the morning.", "wake me up at six thirty in the morning"),
        ("Set an alarm for 7am tomorrow.", "set an alarm for seven am tomorrow"),
        ("It's 9:05 p.m.", "it's nine oh five pm"),
        ("What's 3.25 plus 1,000?", "what's three point two five plus one thousand"),
        ("Set a twenty-one minute timer", "set a twenty one minute timer"),
        ("\u201cQuoted\u201d  'words'", "quoted words"),
        ("", ""),
    ],
)
def test_normalize_utterance(raw, expected):
    assert normalize_utterance(raw) == expected


def test_numbers_spelled_like_hwu64():
    assert int_to_words(1048996) == "one million forty eight thousand nine hundred ninety six"
    assert int_to_words(0) == "zero"
    assert int_to_words(-15) == "minus fifteen"
    assert decimal_to_words("12.05") == "twelve point zero five"
