from __future__ import annotations

from dockyard.masking import SecretsMasker


def test_every_registered_secret_is_masked_longest_first() -> None:
    masker = SecretsMasker(["hunter22", "hunter22-extended"])
    assert masker.mask("a hunter22-extended b hunter22 c") == "a *** b *** c"


def test_lines_of_a_multiline_secret_are_masked_one_by_one() -> None:
    masker = SecretsMasker(["line-one\nline-two"])
    assert masker.mask_lines(["x line-one", "line-two y"]) == ["x ***", "*** y"]


def test_regex_characters_in_secrets_are_literal() -> None:
    masker = SecretsMasker(["a.b*c"])
    assert masker.mask("aXbbc a.b*c") == "aXbbc ***"


def test_very_short_values_are_not_masked() -> None:
    masker = SecretsMasker(["1", "ab", ""])
    assert not masker
    assert masker.mask("1 ab") == "1 ab"


def test_nested_values() -> None:
    masker = SecretsMasker(["s3cret"])
    assert masker.mask_value({"a": ["x s3cret"], "b": ("s3cret",), "n": 1}) == {"a": ["x ***"], "b": ("***",), "n": 1}
