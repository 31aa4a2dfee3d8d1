"""The held-out math benchmarks: real data loads, every gold parses, golds verify against themselves, and
maj@k votes with math equivalence."""

import json

import pytest

from zero_rl.rewards.math_answer import answers_equivalent, parse_gold
from zero_rl.tasks import get_task
from zero_rl.data import DataError
from zero_rl.evaluate import equivalence_for, exact_equal, majority_vote, sample_eval, summarize
from zero_rl.generation import Completion, SamplingParams

SUITE = {"aime24": 30, "amc23": 40, "minerva": 272, "olympiadbench": 675}


def tagged(answer: str) -> str:
    return f"<think> work </think> <answer> {answer} </answer>"


@pytest.mark.parametrize("name,rows", SUITE.items())
def test_suite_task_loads_its_real_data_and_every_gold_parses(name, rows):
    task = get_task(name)
    examples = task.load(task.eval_split)
    assert len(examples) == rows
    assert len({str(e["id"]) for e in examples}) == rows
    assert all(e["question"].strip() and e["answer"].strip() for e in examples)
    for example in examples:
        assert parse_gold(example["answer"]), (name, example["id"], example["answer"])
    assert "Assistant:" in task.prompt(examples[0]) and examples[0]["question"][:40] in task.prompt(examples[0])


@pytest.mark.parametrize("name", SUITE)
def test_golds_verify_against_themselves_and_wrong_answers_fail(name):
    task = get_task(name)
    accuracy, _ = task.rewards[task.accuracy]
    for example in task.load("test")[:6]:
        assert accuracy(tagged(example["answer"]), example) == 1.0, example["answer"]
        assert accuracy(tagged("\\boxed{" + example["answer"] + "}"), example) == 1.0
        assert accuracy(tagged("123456789.5"), example) == 0.0
        assert accuracy(example["answer"], example) == 0.0  # no tags, no fall-back: not counted
        assert task.extract_answer(tagged(example["answer"])) == example["answer"]


@pytest.mark.parametrize("name,example_id,gold", [
    ("aime24", 67, "25"),  # stored as "025"
    ("amc23", 0, "27"),  # stored as the float 27.0
    ("minerva", 0, "1.6"),  # the last \boxed{} of the solution
    ("olympiadbench", 1606, "2"),
])
def test_gold_normalisation(name, example_id, gold):
    examples = {e["id"]: e for e in get_task(name).load("test")}
    assert examples[example_id]["answer"] == gold


def test_olympiadbench_multi_part_gold_drops_per_part_dollars():
    golds = [e["answer"] for e in get_task("olympiadbench").load("test")]
    assert "69,84" in golds and not any("$" in g for g in golds)


@pytest.mark.parametrize("name", SUITE)
def test_suite_tasks_are_held_out_only(name):
    with pytest.raises(ValueError, match="only a 'test' split"):
        get_task(name).load("train")


def test_missing_data_and_broken_rows_fail_loudly(tmp_path):
    with pytest.raises(DataError, match="no test.jsonl"):
        get_task("aime24", source=str(tmp_path)).load("test")
    (tmp_path / "test.jsonl").write_text(json.dumps({"id": 1, "problem": "p", "answer": "3"}) + "\n" +
                                         json.dumps({"id": 2, "problem": "q"}) + "\n")
    with pytest.raises(DataError, match="row 1 has no 'answer' field"):
        get_task("aime24", source=str(tmp_path)).load("test")
    (tmp_path / "test.jsonl").write_text(json.dumps({"idx": 0, "problem": "p", "solution": "no box"}) + "\n")
    with pytest.raises(DataError, match="no \\\\boxed"):
        get_task("minerva", source=str(tmp_path)).load("test")


def test_answer_fallbacks_option():
    task = get_task("amc23", fallbacks=["boxed"])
    accuracy, _ = task.rewards[task.accuracy]
    example = task.load("test")[0]
    assert accuracy("so the distance is \\boxed{27}", example) == 1.0
    assert task.extract_answer("so the distance is \\boxed{27}") == "27"
    assert get_task("amc23", fallbacks="boxed,last_number").options["fallbacks"] == ["boxed", "last_number"]
    with pytest.raises(ValueError, match="unknown fallbacks"):
        get_task("amc23", fallbacks="guess")
    with pytest.raises(ValueError, match="unknown format"):
        get_task("amc23", format="loose")


def test_maj_at_k_groups_equivalent_math_forms():
    task = get_task("amc23")
    equivalent = equivalence_for(task)
    assert equivalent is answers_equivalent and equivalence_for(get_task("arithmetic")) is exact_equal
    assert equivalence_for(get_task("math")) is answers_equivalent  # MATH-500 is its held-out split
    assert equivalence_for(get_task("gsm8k")) is exact_equal  # its extract_answer already normalises numbers
    assert majority_vote(["3", "1/2", "0.5", "\\frac{1}{2}", "3"], equivalent) == [1, 2, 3]
    assert majority_vote(["0.5", "3", "1/2", "3"], equivalent) == [0, 2]  # 2-2 tie: 0.5 came first
    assert majority_vote(["0.5", "3", "1/2", "3"], exact_equal) == [1, 3]  # without math: 3 wins
    records = [{"problem_index": 0, "sample_index": s, "answer": a, "correct": float(a in ("1/2", "0.5")),
                "formatted": 1.0, "length": 5, "truncated": False} for s, a in enumerate(["3", "1/2", "0.5", "4"])]
    assert summarize(records, [4], equivalent)["maj@4"] == 1.0
    assert summarize(records, [4], exact_equal)["maj@4"] == 0.0


class GoldEcho:
    """Answers problem p correctly on samples s < p + 1, in alternating forms (plain and \\boxed)."""

    name = "gold-echo"

    def __init__(self, golds_by_prompt):
        self.golds_by_prompt = golds_by_prompt

    def generate(self, prompt_ids, params):
        out = []
        for p, ids in enumerate(prompt_ids):
            gold = self.golds_by_prompt[tuple(ids)]
            for s in range(params.n):
                answer = (gold if s % 2 else "\\boxed{" + gold + "}") if s <= p else "-1.25"
                out.append(Completion(p, [0] * 5, tagged(answer), None, "stop"))
        return out


def test_sample_eval_on_a_benchmark_task():
    task = get_task("aime24")
    examples = task.load("test")[:3]

    def tokenizer(text, add_special_tokens=False):
        return {"input_ids": [ord(ch) for ch in text]}

    golds = {tuple(tokenizer(task.prompt(e))["input_ids"]): e["answer"] for e in examples}
    metrics = sample_eval(GoldEcho(golds), tokenizer, task, examples, n=4, ks=[1, 4],
                          params=SamplingParams(temperature=0.6, top_p=0.95, max_new_tokens=32))
    assert metrics["pass@1"] == pytest.approx((1 + 2 + 3) / 12)
    assert metrics["pass@4"] == 1.0 and metrics["format"] == 1.0
    assert metrics["maj@4"] == pytest.approx(2 / 3)  # problem 0: -1.25 x3; 1: 2-2 tie, gold first; 2: gold x3
