"""Table-driven reward tests (math-verify style), adversarial rows included."""

import functools

import pytest

from zero_rl.rewards.format import format_reward, format_reward_lenient, parse_r1
from zero_rl.rewards.language import language_consistency, language_share
from zero_rl.rewards.math_answer import answers_equivalent, extract_math_answer, last_boxed, math_accuracy
from zero_rl.rewards.numeric import numeric_accuracy, parse_number

GOOD = "<think> 2 + 2 is 4 </think> <answer> 4 </answer>"


@pytest.mark.parametrize("completion,prefilled,strict,lenient", [
    (GOOD, False, 1.0, 1.0),
    ("<think>a</think><answer>4</answer>", False, 1.0, 1.0),                  # no spaces or newlines needed
    ("<think>\na\n</think>\n<answer>\n4\n</answer>\n", False, 1.0, 1.0),      # newlines are fine too
    (" 2 + 2 is 4 </think> <answer> 4 </answer>", True, 1.0, 1.0),           # prompt ended with <think>
    (GOOD, True, 0.0, 0.0),                                                   # opened <think> twice
    ("<think>a</think> so: <answer>4</answer>", False, 0.0, 1.0),             # text between blocks
    ("<Think>a</Think> <Answer>4</Answer>", False, 0.0, 1.0),                 # case
    ("<think>a</think> <answer>4</answer> more text", False, 0.0, 0.0),       # text after </answer>
    ("<think>a</think> <answer>4</answer><answer>5</answer>", False, 0.0, 0.0),  # two answers
    ("<think>a<think>b</think></think> <answer>4</answer>", False, 0.0, 0.0),    # nested think
    ("<think>a</think> <answer>4 <answer>5</answer></answer>", False, 0.0, 0.0),  # nested answer
    ("<answer>4</answer> <think>a</think>", False, 0.0, 0.0),                 # wrong order
    ("<think>a</think> <answer>4", False, 0.0, 0.0),                          # truncated
    ("4", False, 0.0, 0.0),                                                   # no tags
    ("", False, 0.0, 0.0),                                                    # empty
    ("<think>a</think> <answer></answer>", False, 0.0, 0.0),                 # an empty answer is no answer
    ("<think>a</think> <answer> \n\t </answer>", False, 0.0, 0.0),          # nor is a blank one
    ("<Think>a</Think> <Answer> </Answer>", False, 0.0, 0.0),
    ("<think>a</think></answer><answer>4</answer>", False, 0.0, 0.0),         # tag spam
])
def test_format(completion, prefilled, strict, lenient):
    example = {"think_prefilled": prefilled}
    assert format_reward(completion, example) == strict
    assert format_reward_lenient(completion, example) == lenient


def test_parse_r1_bodies():
    assert parse_r1(GOOD) == (" 2 + 2 is 4 ", " 4 ")


@pytest.mark.parametrize("completion,answer,expected", [
    ("<answer>18</answer>", "18", 1.0),
    ("<answer>$18</answer>", "18", 1.0),
    ("<answer>\\$18</answer>", "18", 1.0),
    ("<answer>18.00</answer>", "18", 1.0),
    ("<answer>1,000</answer>", "1000", 1.0),
    ("<answer>$1,000.00 dollars</answer>", "1000", 1.0),
    ("<answer>\\boxed{42}</answer>", "42", 1.0),
    ("<answer>-5</answer>", "-5", 1.0),
    ("<answer>5</answer>", "-5", 0.0),
    ("<answer>17</answer>", "18", 0.0),
    ("<answer>18.5</answer>", "18", 0.0),
    ("<answer></answer>", "18", 0.0),                                        # empty answer
    ("<answer>eighteen</answer>", "18", 1.0),                                # 18 in words is 18
    ("<answer>nineteen</answer>", "18", 0.0),
    ("the answer is 18", "18", 0.0),                                         # no tags
    ("<answer>18", "18", 0.0),                                               # truncated
    ("<answer>1</answer> <answer>18</answer>", "18", 1.0),                   # the last answer block counts
    ("<answer>" + "9" * 5000 + "</answer>", "18", 0.0),                      # giant number
    ("<answer>１８</answer>", "18", 1.0),                                      # full-width digits are digits
])
def test_numeric_accuracy(completion, answer, expected):
    assert numeric_accuracy(completion, {"answer": answer}) == expected


def test_numeric_gold_must_be_a_number():
    with pytest.raises(ValueError, match="not a number"):
        numeric_accuracy("<answer>1</answer>", {"answer": "n/a"})
    assert parse_number("costs $1,234.50 in all") == parse_number("1234.5")


@pytest.mark.parametrize("completion,answer,expected", [
    ("<think>x</think> <answer>\\boxed{\\frac{1}{2}}</answer>", "\\frac12", 1.0),
    ("<answer>\\frac12</answer>", "\\frac{1}{2}", 1.0),
    ("<answer>0.5</answer>", "\\frac{1}{2}", 1.0),
    ("<answer>$\\frac{1}{2}$</answer>", "\\frac{1}{2}", 1.0),
    ("<answer>\\(\\frac{1}{2}\\)</answer>", "\\frac{1}{2}", 1.0),
    ("<answer>1,000</answer>", "1000", 1.0),
    ("<answer>10\\%</answer>", "10\\%", 1.0),
    ("<answer>10</answer>", "10\\%", 1.0),
    ("<answer>[1, 2)</answer>", "[1,2)", 1.0),
    ("<answer>(1, 2]</answer>", "[1,2)", 0.0),
    ("<answer>\\{1, 2\\}</answer>", "\\{2, 1\\}", 1.0),
    ("<answer>x^2 + 2x + 1</answer>", "(x+1)^2", 1.0),
    ("<answer>3\\text{ cm}</answer>", "3", 1.0),
    ("<answer>\\boxed{\\text{(C)}}</answer>", "\\text{(C)}", 1.0),
    ("<answer>\\boxed{\\text{(B)}}</answer>", "\\text{(C)}", 0.0),
    ("<answer>The answer is \\boxed{7}.</answer>", "7", 1.0),
    ("<answer>\\boxed{8}</answer>", "7", 0.0),
    ("<answer>\\frac{3}{2}</answer>", "\\frac{1}{2}", 0.0),
    ("<answer>\\boxed{1}</answer> <answer>\\boxed{7}</answer>", "7", 1.0),    # two answers: the last one
    ("\\boxed{7}", "7", 0.0),                                                 # no tags, no fall-back
    ("<answer>\\boxed{7", "7", 0.0),                                          # truncated
    ("<answer></answer>", "7", 0.0),                                          # empty
    ("<answer>\\boxed{}</answer>", "7", 0.0),
    ("<answer>七</answer>", "7", 0.0),                                         # unicode
    ("<answer>" + "1" * 2000 + "</answer>", "7", 0.0),                        # giant number
])
def test_math_accuracy(completion, answer, expected):
    assert math_accuracy(completion, {"answer": answer}) == expected


def test_math_fallbacks():
    example = {"answer": "7"}
    assert math_accuracy("so \\boxed{7}", example, fallbacks=("boxed",)) == 1.0
    assert math_accuracy("the result is 7.", example, fallbacks=("last_number",)) == 1.0
    assert functools.partial(math_accuracy, fallbacks=("boxed",))("\\boxed{7}", example) == 1.0
    with pytest.raises(ValueError, match="valid: boxed, last_number"):
        extract_math_answer("x", fallbacks=("nope",))


def test_extraction():
    assert extract_math_answer("<answer>so \\boxed{\\frac{a}{\\sqrt{b}}} ok</answer>") == "\\frac{a}{\\sqrt{b}}"
    assert extract_math_answer("<answer> 12 </answer>") == "12"
    assert extract_math_answer("no answer") is None
    assert last_boxed("\\boxed 5 and") == "5"
    assert last_boxed("\\fbox{3}") == "3"


def test_gold_that_does_not_parse_raises_instead_of_scoring_zero():
    with pytest.raises(ValueError, match="unbalanced braces"):
        math_accuracy("<answer>1</answer>", {"answer": "}{"})


@pytest.mark.parametrize("a,b,expected", [
    ("\\frac{1}{2}", "0.5", True), ("1,000", "1000", True), ("x+1", "1+x", True),
    ("\\sqrt{2}", "2^{1/2}", True), ("3", "4", False), ("\\text{(A)}", "\\text{(B)}", False),
])
def test_answers_equivalent(a, b, expected):
    assert answers_equivalent(a, b) is expected


@pytest.mark.parametrize("text,language,share", [
    ("We need to compute the area of the circle", "en", 1.0),
    ("我们需要计算圆的面积", "zh", 1.0),
    ("我们需要计算圆的面积", "en", 0.0),
    ("我们 need 面积", "zh", 0.8),                            # 4 Han characters, 1 English word
    ("设 $x = 3$，则 \\frac{1}{2} x 等于", "zh", 1.0),          # math, LaTeX and variables are neutral
    ("", "en", 1.0),
    ("12 + 7 = 19", "en", 1.0),
    ("Пусть число равно", "ru", 1.0),
])
def test_language_share(text, language, share):
    assert language_share(text, language) == pytest.approx(share)


def test_language_consistency_reads_the_think_body():
    mixed = "<think>首先 compute 面积</think> <answer>The area is 4</answer>"
    assert language_consistency(mixed, {}, language="zh") == pytest.approx(4 / 5)
    assert language_consistency(mixed, {"language": "en"}) == pytest.approx(1 / 5)
    assert 0.0 <= language_consistency("no tags at all 你好", {}) <= 1.0
    with pytest.raises(ValueError, match="known: "):
        language_share("x", "xx")
