"""Each layer of the answer checker on its own table (zero_rl.rewards.answer_extract, zero_rl.rewards.exact_numbers,
zero_rl.rewards.answer_compare), then the numeric checker. The whole public corpus runs in test_answer_corpus.py."""

from fractions import Fraction

import pytest

from zero_rl.rewards.answer_compare import (assigned_value, choice_letters, equivalent, normalise, numbers_agree, region,
                                    regions_agree, same_text, sequence, sequences_agree, stray_words)
from zero_rl.rewards.answer_symbolic import equations_agree, plain_to_latex, symbolic_agree
from zero_rl.rewards.answer_extract import boxed_answer, final_answer, math_spans
from zero_rl.rewards.exact_numbers import beyond_bounds, evaluate
from zero_rl.rewards.exact_numbers import numbers_agree as exact_numbers_agree
from zero_rl.rewards.math_answer import answers_equivalent, math_accuracy, parse_gold
from zero_rl.rewards.numeric import numeric_accuracy, numeric_answer


@pytest.mark.parametrize("text,answer", [
    ("Answer $ 9 $", "9"),
    ("Answer \\( (9+1) \\)", "(9+1)"),
    ("The answer is $$\\sin(x)$$", "\\sin(x)"),
    ("Therefore the answer is -3", "-3"),
    ("After solving, we get $1/2$", "1/2"),
    ("so \\boxed{\\frac{a}{\\sqrt{b}}} ok", "\\frac{a}{\\sqrt{b}}"),
    ("\\boxed{(2, 2)} \\quad\\text{and}\\quad \\boxed{(6, 2)}", "(2, 2), (6, 2)"),
    ("\\boxed{1},\\boxed{2},\\boxed{3}", "1, 2, 3"),
    ("\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}", "k = 45, n = 2"),
    ("first \\boxed{3}. Much later, after a long discussion of other things, we see \\boxed{4}", "4"),
    ("\\boxed{5}. Wait, actually \\boxed{6}", "6"),                      # a correction, not a list
    ("$\\boxed{255}$ so the total is $10,455. Final Answer: The final answer is $10,455$.", "10,455"),
    ("$1$ and $2$ and $3$", "1, 2, 3"),
    ("so $x+y = 1000$ therefore answer is $1$", "1"),
    ("The final answer is $28 \\%$. I hope it is correct. Note: $A$ and $B$ differ.", "28 \\%"),
    ("Final Answer: The largest $n$ is 34.", "34"),
    ("the maximum number of points in the domain of $f(x)$ is 19.", "19"),
    ("Therefore, there are 12 distinct sequences. I hope it is correct. <|im_start|>user", "12"),
    ("the number is not 10 which is 1,000.99€", "1,000.99"),
    ("Haley总共有99颗弹珠。", "99"),
    ("答案是 5", "5"),
    ("The solutions are x = 2 and x = 3", "x = 2 and x = 3"),
    ("Réponse: Janeth aura encore 220 $ à payer d'ici 12 mois.", "220"),
    ("Final Answer: **73**", "73"),
    ("The answer is not 5", "not 5"),                              # a negated number is not the answer
    ("The answer is 9 or 8", "9 or 8"),                            # a hedge stays a list (and fails a single gold)
    ("I think it's 5 but it could be 6", "I think it's 5 but it could be 6"),  # no number out of a hedge
    ("$x$ is 52_8 or 62_8", "52_8 or 62_8"),
    ("the number is not 10 which is 1,000.99€", "1,000.99"),
    ("so #### 42", "42"),
    ("Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", "\\frac{1}{2} \\$ = \\frac{10}{9}"),  # \$ is not a delimiter
    ("   ", None),
    ("\\boxed{7", "\\boxed{7"),  # truncated box: no box, the text is what there is
])
def test_final_answer(text, answer):
    assert final_answer(text) == answer


def test_boxes_and_spans():
    assert boxed_answer("\\boxed 5 and") == "5"
    assert boxed_answer("\\fbox{3}") == "3"
    assert boxed_answer("\\boxed{1} papers and \\boxed{2} bins") == "1, 2"
    assert [inner for _, _, inner in math_spans("$a$ and \\(b\\) and \\[c\\] and $$d$$")] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("raw,normal", [
    ("$\\dfrac{1}{2}$", "\\frac{1}{2}"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "( 3, \\frac{\\pi}{2} )"),
    ("90^\\circ", "90"),
    ("10\\%", "10%"),
    ("28 percent", "28%"),
    ("\\$1,000.99", "1,000.99"),
    ("15\\mbox{ cm}^2", "15"),
    ("125\\textnormal{ miles}", "125"),
    ("\\text{Evelyn}", "Evelyn"),
    ("11,\\! 111,\\! 100", "11,111,100"),
    ("14{,}916", "14,916"),
    ("x != 5", "x \\ne 5"),
    ("x \\geq 5", "x \\ge 5"),
    ("{1,2,3}", "1,2,3"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),  # row breaks kept
    ("√(x+1)", "\\sqrt{x+1}"), ("2π", "2\\pi"), ("x²", "x^{2}"), ("−3", "-3"), ("x ≤ 3", "x \\le 3"),  # Unicode
    ("2m", "2m"), ("5 m", "5"),                                  # a glued letter is a variable, a spaced one a unit
])
def test_normalise(raw, normal):
    assert normalise(raw) == normal


@pytest.mark.parametrize("text,value", [
    ("1,000", Fraction(1000)), ("1 000", Fraction(1000)), ("11,111,100", Fraction(11111100)),
    ("1000,99", Fraction(100099, 100)), ("0,111", Fraction(111, 1000)), (".4", Fraction(2, 5)),
    ("\\frac{1}{2^{98}}", Fraction(1, 2 ** 98)), ("\\frac3{3}", Fraction(1)), ("\\frac12", Fraction(1, 2)),
    ("2^{10}", Fraction(1024)), ("-\\frac{10}{9}", Fraction(-10, 9)), ("(9+1)", Fraction(10)), ("2/(-3)", Fraction(-2, 3)),
    ("3245/5", Fraction(649)), ("5!", Fraction(120)), ("\\sqrt{16}", Fraction(4)), ("\\sqrt{\\frac{9}{4}}", Fraction(3, 2)),
    ("0.\\overline{3}", Fraction(1, 3)), ("0.1\\overline{6}", Fraction(1, 6)), ("1e2", Fraction(100)),
    ("1.5 \\times 10^{3}", Fraction(1500)), ("twenty-five", Fraction(25)), ("one hundred and five", Fraction(105)),
    ("ten apples", None), ("1\\frac{4}{5}", Fraction(9, 5)), ("-2\\frac{1}{2}", Fraction(-5, 2)),
    ("3x", None), ("\\sqrt{2}", None), ("12:00", None), ("x=3", None), ("1/0", None), ("", None), ("32, 349", None),
])
def test_evaluate(text, value):
    assert evaluate(text) == value


@pytest.mark.parametrize("gold,pred,agree", [
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}", False),             # equal after 6-place rounding only
    ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", False),
    ("0.0000001", "0.0000002", False),
    ("0.5", "\\frac{1}{2}", True),
    ("33.3", "\\frac{100}{3}", True),                            # a rounded decimal gold, at its own precision
    ("33.3", "\\frac{101}{3}", False),
    ("0.3", "\\frac{1}{3}", False),                              # one significant digit says too little
    ("\\frac{1}{12}", "0.0833333333333333", True),               # a float printout of the exact gold
    ("\\frac{1}{3}", "0.33", False),                             # two digits are not the exact answer
    ("\\frac{1}{3}", "0.3334", False),                           # not correctly rounded
    ("16386.17", "16386.169", True),                             # a finer answer that rounds to the gold
    ("12.5", "12.54", False),                                    # too few digits to be a machine float
    ("0.5", "0.54", False),
    ("0.29", "0.290243531202435", True),                         # a machine float rounds to the gold
    ("7", "3x", None),                                           # not arithmetic: another layer decides
])
def test_exact_numbers(gold, pred, agree):
    assert exact_numbers_agree(gold, pred) is agree


def test_sizes_are_bounded():
    assert beyond_bounds("9^{9^{9^{9}}}") and beyond_bounds("99999999!") and beyond_bounds("10^{10^{10}}")
    assert not beyond_bounds("2^{10}") and not beyond_bounds("x^{99999}")
    assert equivalent("7", "9^{9^{9^{9}}}") is False  # decided without sympy


@pytest.mark.parametrize("gold,pred,verdict", [
    ("\\frac{1}{2}", "\\frac{1}{2}", True), ("Even", "even", True), ("x", "y", None), ("E", "e", None),
    ("AB", "ab", None),                                          # a segment is not a product
    ("odd", "The function is odd.", True), ("odd", "The function is not odd.", None),
])
def test_same_text(gold, pred, verdict):
    assert same_text(gold, pred) is verdict


@pytest.mark.parametrize("gold,pred,verdict", [
    ("C", "I think the correct answer is C", True),
    ("B", "It's not A because it doesn't make sense, therefore I think it's B", True),
    ("D", "The answer is for sure D, it can't be A or B", True),
    ("(D) Alina", "D", True),
    ("(A) Cecile", "C", False),
    ("C Cecile", "(C)", True),
    ("(C)", "B", False),
    ("x", "x", None),                                            # not a choice: another layer decides
    ("C = 5", "C", None),
    ("(A) 5", "A", True),                                        # a choice gold with its value
    ("A", "I think it is A or B", False),                        # a hedge is no answer
    ("C", "D+1", False),                                         # a letter in an expression is no choice
    ("B", "B。不是 A", True),
    ("C", "(C), (D)", False), ("A", "A, B, C, D, E", False),     # listing choices is no choice
])
def test_choice_letters(gold, pred, verdict):
    assert choice_letters(gold, pred) is verdict


@pytest.mark.parametrize("gold,pred,verdict", [
    ("10%", "10", True), ("10%", "0.1", True), ("10%", "11", False), ("10", "10%", True), ("0.1", "10%", True),
])
def test_percent(gold, pred, verdict):
    assert numbers_agree(gold, pred) is verdict


@pytest.mark.parametrize("text,intervals", [
    ("x \\in [-2,7]", (("-2", True, "7", True),)),
    ("-2 \\le x \\le 7", (("-2", True, "7", True),)),
    ("x<3", (("-\\infty", False, "3", False),)),
    ("5 \\ge x", (("-\\infty", False, "5", True),)),
    ("(-\\infty, 3)", (("-\\infty", False, "3", False),)),
    ("[0,1) \\cup (2, 3]", (("0", True, "1", False), ("2", False, "3", True))),
    ("|x| > 3", (("-\\infty", False, "-(3)", False), ("3", False, "\\infty", False))),   # absolute values
    ("1 \\le |z| \\le 2", (("-(2)", True, "-(1)", True), ("1", True, "2", True))),
    ("(3, \\infty) \\cup (-\\infty, -3)", (("-\\infty", False, "-3", False), ("3", False, "\\infty", False))),  # sorted
    ("x + y < 3", None), ("3", None),
])
def test_region(text, intervals):
    assert region(text) == intervals


@pytest.mark.parametrize("gold,pred,verdict", [
    ("x \\in [-2,7]", "-2 \\le x \\le 7", True),
    ("-2 \\le x \\le 7", "x \\in [-2,7]", True),
    ("m \\ge \\sqrt{2}", "m \\in [\\sqrt{2}, +\\infty)", True),
    ("(0, 12.5)", "0 < x < 12.5", True),
    ("x < 3", "(-\\infty, 3]", False),
    ("(-\\infty, -3) \\cup (3, \\infty)", "x < -3 or x > 3", True),
    ("(-\\infty, -3) \\cup (3, \\infty)", "x < -3 or x \\ge 3", False),
    ("x \\ge 5", "x \\le 5", False),
    ("[0, 1)", "(0, 1)", None),                                  # two plain intervals: the sequence layer
])
def test_regions_agree(gold, pred, verdict):
    assert regions_agree(gold, pred) is verdict


@pytest.mark.parametrize("text,parsed", [
    ("(1, 2)", ("ordered()", ["1", "2"])),
    ("\\{1, 2\\}", ("set", ["1", "2"])),
    ("1, 2 and 3", ("unordered", ["1", "2", "3"])),
    ("1, 2, \\ldots, n", ("ordered", ["1", "2", "\\ldots", "n"])),
    ("\\pm 2021", ("unordered", ["2021", "- 2021"])),
    ("12:00", ("ordered:", ["12", "00"])),
    ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", ("matrix2x2", ["1", "2", "3", "4"])),
    ("7", None),
])
def test_sequence(text, parsed):
    assert sequence(text) == parsed


@pytest.mark.parametrize("gold,pred,verdict", [
    ("(2, 2), (6, 2)", "(6, 2), (2, 2)", True),
    ("(1, 2)", "(2, 1)", False),                                 # a tuple is ordered
    ("\\{1, 2\\}", "2, 1", True),                                # a set is not
    ("1, 2, \\ldots, n", "1, 3, 5, \\ldots, 2n-1", False),       # the ellipsis must not swallow a difference
    ("1:2:3:\\ldots", "1:4:9:\\ldots", False),
    ("12:00", "1:00", False),
    ("\\pm 2021", "-2021, 2021", True),
    ("\\pm 2021", "2021", False),
    ("\\frac{1}{2}", "\\frac{1}{2} or 0.5", True),                  # one value written twice
    ("3", "3 or 4", False),                                      # a hedge
    ("a_3 = 2, a_{37} = 19", "a_{37} = 19, a_3 = 2", True),
    ("AB=4,CD=5", "4, 5", True),
    ("p=5,q=2;p=7,q=2", "(5,2),(7,2)", True),
    ("[0,1)", "(0,1)", False),
    ("32349", "32, 349", False),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1, 2)", True),     # a column vector written as a tuple
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(2, 1)", False),
    ("7", "8", None),
])
def test_sequences_agree(gold, pred, verdict):
    assert sequences_agree(gold, pred) is verdict


@pytest.mark.parametrize("gold,pred,stray", [
    ("0", "not 0", True),                                        # math-verify reads it as n*o*t*0
    ("2", "two apples", True),
    ("\\sin x", "\\sin x", False), ("2\\pi r", "2 \\pi r", False), ("\\log_2 n", "log(n)/log(2)", False),
    ("ab", "ab", False),                                         # the gold's own words
])
def test_stray_words(gold, pred, stray):
    assert stray_words(gold, pred) is stray


@pytest.mark.parametrize("text,value", [
    ("x = 3", "3"), ("(p,q)=(3,2)", "(3,2)"), ("S_{MBCN}:S=7:32", "7:32"), ("|AB|=1", "1"),
    ("7 = 11a+c", None), ("2x + z = 1", None), ("a^2 + b = 0", None), ("3", None),
])
def test_assigned_value(text, value):
    assert assigned_value(text) == value


@pytest.mark.parametrize("gold,pred,verdict", [
    ("2x+4y-3=0", "y = -1/2*x + 3/4", True),                     # the same line solved for y
    ("x^2/4 + y^2/3 = 1", "x^2/16 + y^2/12 = 1/4", True),        # both sides scaled
    ("x^2/4 + y^2/3 = 1", "x^2/16 + y^2/12 = 1", False),         # another ellipse
    ("x = 3", "3 = x", True), ("x = 3", "y = 3", False), ("y = x", "y = -x", False),
    ("x = 3", "x^2 = 9", False),                                 # not a constant multiple: another solution set
    ("3", "3", None), ("x < 3", "x < 3", None), ("x = 1, y = 2", "x = 1, y = 2", None),
])
def test_equations_agree(gold, pred, verdict):
    assert equations_agree(gold, pred) is verdict


@pytest.mark.parametrize("plain,latex", [
    ("sqrt(3)/3", "\\sqrt{3}/3"), ("-1 + exp(16)", "-1 + e^{16}"), ("pi/2", "\\pi/2"),
    ("-2*pi", "-2 \\cdot \\pi"), ("14.0 + -1.0i", "14.0 -1.0 i"), ("x**2", "x^{2}"),
])
def test_plain_to_latex(plain, latex):
    assert plain_to_latex(plain) == latex


@pytest.mark.parametrize("gold,pred,verdict", [
    ("e^{16} - 1", "-1 + exp(16)", True),
    ("\\frac{\\pi}{2}", "pi/2", True),
    ("14 - i", "14.0 + -1.0i", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("\\sqrt{1/n}", "\\frac{1}{\\sqrt{n}}", True),               # equal at positive probe points
    ("1 - \\frac{1}{e}", "1 + \\frac{1}{e}", False),
    ("\\frac{2^{2005}+1}{3 \\cdot 2^{2006}}", "\\frac{1}{3 \\cdot 2^{2006}}", False),
    ("\\sqrt{17}", "4.123105625617661", True),                   # a correctly rounded decimal of the exact gold
    ("\\sqrt{17}", "4.12", False),                               # too few digits to stand for it
    ("x^2+2x+1", "y^2+2y+1", False),
])
def test_symbolic_agree(gold, pred, verdict):
    assert symbolic_agree(normalise(gold), normalise(pred)) is verdict


def test_math_accuracy_reads_the_answer_block_and_the_gold_as_written():
    example = {"answer": "$\\boxed{(2, 2)}, \\boxed{(6, 2)}$"}
    assert math_accuracy("<think>w</think><answer>\\boxed{(6, 2)} and \\boxed{(2, 2)}</answer>", example) == 1.0
    assert math_accuracy("<think>w</think><answer>\\boxed{(6, 2)}</answer>", example) == 0.0
    assert math_accuracy("<think>w</think><answer> </answer>", example) == 0.0
    assert parse_gold("So the answer is $\\boxed{\\frac{1}{2}}$.") == "\\frac{1}{2}"
    with pytest.raises(ValueError, match="blank"):
        parse_gold("   ")
    assert answers_equivalent("\\frac{1}{2}", "0.5") and not answers_equivalent("\\frac{1}{2004!}", "\\frac{1}{2006!}")


@pytest.mark.parametrize("answer,gold,expected", [
    ("18", "18", 1.0), ("$18.00", "18", 1.0), ("1 000", "1000", 1.0), ("11,\\! 111,\\! 100", "11111100", 1.0),
    ("1000,99", "1000.99", 1.0), ("x = 3", "3", 1.0), ("\\boxed{2^{10}}", "1024", 1.0), ("\\frac{36}{2}", "18", 1.0),
    ("The answer is 18 dollars.", "18", 1.0), ("#### 42", "42", 1.0), ("50\\%", "50", 1.0),
    ("3x", "3", 0.0), ("\\frac{1+\\sqrt{5}}{2}", "2", 0.0), ("2^{10}", "10", 0.0), ("12:00", "12", 0.0),
    ("\\frac{1}{2}", "0.5", 1.0), ("17", "18", 0.0), ("18.5", "18", 0.0), ("AZYUK2A", "2", 0.0), ("", "2", 0.0),
    ("9^{9^{9^{9}}}", "7", 0.0),
])
def test_numeric_accuracy_never_pulls_a_number_out_of_an_expression(answer, gold, expected):
    assert numeric_accuracy(f"<think>w</think> <answer>{answer}</answer>", {"answer": gold}) == expected


def test_numeric_answer():
    assert numeric_answer("so it costs $1,234.50 in all.") == Fraction(246900, 200)
    assert numeric_answer("\\sqrt{2}") is None
    with pytest.raises(ValueError, match="not a number"):
        numeric_accuracy("<answer>1</answer>", {"answer": "\\sqrt{2}"})
