"""The answer shapes every scoring worker warms up on (rewards/warm_up_answers.txt): what the script draws, and
real answers the checker reads."""

import importlib.util
from pathlib import Path

from zero_rl.rewards.math_answer import _altered, math_accuracy, warm_up, warm_up_answers

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_shapes_are_what_the_script_draws_from_the_math_train_answers():
    spec = importlib.util.spec_from_file_location("make_warm_up_answers", ROOT / "bench" / "make_warm_up_answers.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert warm_up_answers() == script.shapes()
    assert len(set(warm_up_answers())) == script.COUNT


def test_each_shape_matches_itself_and_not_its_altered_copy():
    shapes = warm_up_answers()
    assert all(math_accuracy(f"<answer>\\boxed{{{gold}}}</answer>", {"answer": gold}) == 1.0 for gold in shapes)
    different = [gold for gold in shapes
                 if math_accuracy(f"<answer>\\boxed{{{_altered(gold)}}}</answer>", {"answer": gold}) == 0.0]
    assert different == shapes  # a raised digit is another value
    warm_up()  # and the warm-up itself runs through
