"""The exercise checker: one verdict per exercise, a sentence that says what is wrong, the editions' modes."""

import pytest
import torch
from IPython.core.formatters import DisplayFormatter

from course_utils.exercises import CheckResult, check, compare


def reference(x):
    return x.cumsum(0)


def todo(x):
    raise NotImplementedError("your code here")


CASES = [(torch.arange(5.0),), (torch.ones(3),)]


@pytest.mark.parametrize("answer, status, words", [
    (reference, "correct", "correct"),
    (todo, "todo", "not implemented yet"),
    (lambda x: x.cumsum(0)[:-1], "wrong", "has shape (4,); expected (5,)"),
    (lambda x: x.cumsum(0) + (x > 3), "wrong", "differs at index (4,): got 11, expected 10"),
    (lambda x: x.long().cumsum(0), "wrong", "dtype torch.int64"),
    (lambda x: x.cumsum(0).tolist(), "wrong", "should be a tensor of shape (5,)"),
    (lambda x: x.cumsum(0) / 0.0 * (x > 2), "wrong", "NaN or infinite"),
    (lambda x: x[10], "wrong", "raised IndexError"),
])
def test_check_gives_one_verdict_and_says_what_differs(answer, status, words, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_EXERCISES", raising=False)
    result = check("cumulative sum", answer, reference, CASES)
    assert result.status == status and bool(result) == (status == "correct")
    assert words in result.message and words in capsys.readouterr().out


def test_the_modes_of_the_two_editions(monkeypatch):
    monkeypatch.setenv("COURSE_EXERCISES", "strict")  # instructor edition: the solution must pass
    assert check("s", reference, reference, CASES)
    with pytest.raises(AssertionError, match="does not pass on its solution"):
        check("s", todo, reference, CASES)
    monkeypatch.setenv("COURSE_EXERCISES", "todo")  # student edition: the stub must be untouched
    assert check("s", todo, reference, CASES).status == "todo"
    with pytest.raises(AssertionError, match="should report 'not implemented yet'"):
        check("s", reference, reference, CASES)
    monkeypatch.setenv("COURSE_EXERCISES", "lenient")
    with pytest.raises(ValueError, match="COURSE_EXERCISES must be one of"):
        check("s", reference, reference, CASES)


def test_compare_walks_containers_and_numbers():
    assert compare({"a": (1.0, torch.zeros(2))}, {"a": (1.0, torch.zeros(2))}) is None
    assert "item 1 of the result['a']" in compare({"a": (1.0, torch.ones(2))}, {"a": (1.0, torch.zeros(2))})
    assert "should be a dict with keys ['a', 'b']" in compare({"a": 1}, {"a": 1, "b": 2})
    assert "is 2.5; expected 2" in compare(torch.tensor(2.5), 2.0)
    assert "is 'x'; expected 'y'" in compare("x", "y")


def test_a_trailing_check_adds_no_output_box():
    """IPython shows an object through _ipython_display_ first: the verdict was printed already."""
    formats, _ = DisplayFormatter().format(CheckResult("s", "correct", "correct"))
    assert formats == {}
