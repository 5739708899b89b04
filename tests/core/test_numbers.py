import pytest

from edge.core.text.numbers import decimal_to_words, format_number_for_speech, int_to_words, parse_number_words


def test_int_to_words_still_spells_numbers():
    assert int_to_words(1048996) == "one million forty eight thousand nine hundred ninety six"
    assert int_to_words(0) == "zero"
    assert int_to_words(-12) == "minus twelve"
    assert decimal_to_words("3.25") == "three point two five"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one million forty eight thousand nine hundred ninety six", (1048996, 9)),
        ("twenty one", (21, 2)),
        ("twenty one apples", (21, 2)),
        ("three point five", (3.5, 3)),
        ("point two five", (0.25, 3)),
        ("zero point five", (0.5, 3)),
        ("a hundred", (100, 2)),
        ("a thousand and one", (1001, 4)),
        ("one hundred and five", (105, 4)),
        ("two thousand and twelve", (2012, 4)),
        ("twelve hundred", (1200, 2)),
        ("twenty five hundred", (2500, 3)),
        ("2", (2, 1)),
        ("1,000", (1000, 1)),
        ("1,000,000", (1000000, 1)),
        ("2.5", (2.5, 1)),
        ("2 million", (2000000, 2)),
        ("half", (0.5, 1)),
        ("a half", (0.5, 2)),
        ("two and a half minutes", (2.5, 4)),
        ("zero", (0, 1)),
        # a number stops where English would start a new one
        ("seven thirty", (7, 1)),
        ("twenty twenty", (20, 1)),
        ("one two", (1, 1)),
        ("one thousand thousand", (1000, 2)),
        ("five hundred and two hundred", (500, 2)),  # 'and' here joins two numbers
        ("a hundred and one hundred", (100, 2)),
    ],
)
def test_parse_number_words(text, expected):
    value, used = parse_number_words(text.split())
    assert (value, used) == expected
    assert type(value) is type(expected[0])


@pytest.mark.parametrize("text", ["", "a", "and", "point", "plus five", "hundred", "thousand", "x"])
def test_no_number_is_none(text):
    assert parse_number_words(text.split()) is None


def test_parse_from_an_offset():
    words = "what is forty two times three".split()
    assert parse_number_words(words, 2) == (42, 2)
    assert parse_number_words(words, 5) == (3, 1)
    assert parse_number_words(words, 0) is None
    assert parse_number_words(words, 99) is None


def test_giant_digit_strings_are_not_read():
    assert parse_number_words(["9" * 5000]) is None


def test_words_round_trip():
    for number in [*range(0, 2100), 1048996, 20_000_017, 999_999_999_999, 10**12 + 1]:
        words = int_to_words(number).split()
        assert parse_number_words(words) == (number, len(words)), words


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        (1048996, "1048996"),
        (2.0, "2"),
        (12.5, "12.5"),
        (1 / 3, "0.333"),
        (0.1 + 0.2, "0.3"),
        (2 / 3, "0.667"),
        (0.0001234, "0.000123"),
        (0.0, "0"),
        (-0.0, "0"),
        (-4, "minus 4"),
        (-2.5, "minus 2.5"),
        (999_999_999_999_999, "999999999999999"),
        (10**20, "10 to the power of 20"),
        (2**70, "about 1.18 times 10 to the power of 21"),
        (1.234e30, "about 1.23 times 10 to the power of 30"),
    ],
)
def test_format_number_for_speech(value, spoken):
    assert format_number_for_speech(value) == spoken


def test_format_number_refuses_non_numbers():
    with pytest.raises(TypeError):
        format_number_for_speech(True)
    with pytest.raises(TypeError):
        format_number_for_speech("12")
    with pytest.raises(ValueError):
        format_number_for_speech(float("inf"))
    with pytest.raises(ValueError):
        format_number_for_speech(float("nan"))
