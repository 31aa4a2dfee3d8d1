"""Sampled evaluation: the pass@k estimator against brute force, maj@k votes, bootstrap, and end-to-end outputs."""

import itertools
import json
import math
import re
from fractions import Fraction

import pytest

from zero_rl.tasks import get_task
from zero_rl.evaluate import (bootstrap_interval, cli_main, exact_equal, group_answers, maj_at_k, majority_vote,
                              pass_at_k, read_jsonl, run_eval, sample_eval, summarize)
from zero_rl.generation import Completion, SamplingParams


def brute_pass_at_k(n: int, c: int, k: int) -> Fraction:
    """Share of all k-subsets of n samples (the first c correct) that hold at least one correct sample."""
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(i < c for i in s) for s in subsets), len(subsets))


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumeration_over_all_k_subsets(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(brute_pass_at_k(n, c, k)), abs=1e-12), (n, c, k)


@pytest.mark.parametrize("n,c,k", [(1024, 1, 1), (1024, 1, 512), (1024, 17, 64), (1024, 512, 1024),
                                    (1024, 1000, 8), (1024, 0, 1024), (1024, 1024, 1), (5000, 3, 2500)])
def test_pass_at_k_is_finite_and_exact_for_large_n(n, c, k):
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    value = pass_at_k(n, c, k)
    assert math.isfinite(value) and 0.0 <= value <= 1.0
    assert value == pytest.approx(float(exact), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n,c,k,expected", [
    (16, 0, 1, 0.0), (16, 0, 16, 0.0),  # nothing correct
    (16, 16, 1, 1.0), (16, 16, 16, 1.0),  # everything correct
    (16, 1, 16, 1.0), (16, 3, 16, 1.0),  # k = n: any correct sample is drawn
    (16, 4, 1, 0.25), (1, 1, 1, 1.0), (1, 0, 1, 0.0),
])
def test_pass_at_k_edge_cases(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("n,c,k", [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError, match="pass@k needs"):
        pass_at_k(n, c, k)


def fraction_equal(a: str, b: str) -> bool:
    """A stand-in math checker for the tests: equal as exact rationals ("1/2" == "0.5" == "2/4")."""
    try:
        return Fraction(a.strip()) == Fraction(b.strip())
    except (ValueError, ZeroDivisionError):
        return a.strip() == b.strip()


@pytest.mark.parametrize("answers,equivalent,winner", [
    (["3", "4", "4"], exact_equal, [1, 2]),
    (["3", "4"], exact_equal, [0]),  # tie 1-1: earliest group
    (["4", "3", "3", "4"], exact_equal, [0, 3]),  # tie 2-2: the group seen first wins
    (["3", None, "4", None, "4"], exact_equal, [2, 4]),  # no answer never votes
    ([None, None], exact_equal, None),
    (["1/2", "0.5", "3", "3"], fraction_equal, [0, 1]),  # tie 2-2 across forms: 1/2 comes first
    (["3", "1/2", "0.5", "2/4"], fraction_equal, [1, 2, 3]),  # three forms of one half beat 3
    (["1/2", "0.5"], exact_equal, [0]),  # without a math checker the forms differ
    (["007", "7", " 7 "], exact_equal, [0, 1, 2]),
])
def test_majority_vote(answers, equivalent, winner):
    assert majority_vote(answers, equivalent) == winner


def test_group_answers_keeps_first_appearance_order():
    assert group_answers(["b", "a", "b", None, "c", "a"]) == [[0, 2], [1, 5], [4]]


def test_maj_at_k_votes_per_block_and_scores_the_winner():
    answers = ["5", "5", "6", "9", "1/2", "0.5", "9", "3"]
    correct = [0, 0, 1, 0, 1, 1, 0, 0]  # gold 1/2; 6 also marked correct
    assert maj_at_k(answers, correct, 8, fraction_equal) == 0.0  # 5, 9 and 1/2 tie 2-2-2: 5 came first
    assert maj_at_k(answers, correct, 4, fraction_equal) == 0.5  # block 1: 5 wins; block 2: 1/2 (x2) wins
    assert maj_at_k(answers, correct, 1, fraction_equal) == sum(correct) / 8  # maj@1 is mean accuracy
    assert maj_at_k([None] * 4, [0] * 4, 2) == 0.0
    with pytest.raises(ValueError):
        maj_at_k(answers, correct, 9)


def test_bootstrap_interval():
    assert bootstrap_interval([0.5] * 20) == (0.5, 0.5)
    values = [1.0] * 30 + [0.0] * 70
    low, high = bootstrap_interval(values, resamples=2000, seed=3)
    assert 0.18 < low < 0.3 < high < 0.42  # normal approximation: 0.3 +- 0.09
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)


def records_for(correct_PN, answers_PN=None):
    records = []
    for p, row in enumerate(correct_PN):
        for s, correct in enumerate(row):
            records.append({"problem_index": p, "sample_index": s, "correct": float(correct), "formatted": 1.0,
                            "answer": answers_PN[p][s] if answers_PN else str(correct), "length": 10 + s,
                            "truncated": s == 0})
    return records


def test_summarize_by_hand():
    correct = [[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]]
    answers = [["7", "8", "8", "9"], ["4", "4", "4", "4"], [None, None, "2", "3"]]
    summary = summarize(records_for(correct, answers), [1, 2, 4])
    assert summary["pass@1"] == pytest.approx((0.25 + 1 + 0) / 3)
    assert summary["pass@2"] == pytest.approx((0.5 + 1 + 0) / 3)  # 1 - C(3,2)/C(4,2) = 0.5
    assert summary["pass@4"] == pytest.approx(2 / 3)
    assert summary["maj@4"] == pytest.approx(1 / 3)  # 8 beats 7 in problem 0
    assert summary["maj@2"] == pytest.approx((0.5 + 1 + 0) / 3)  # problem 0: block [7, 8] votes 7 (tie, first)
    assert summary["mean@2"] == pytest.approx((0.25 + 1 + 0) / 3)  # both blocks of 2: every sample counts
    assert summary["accuracy"] == pytest.approx(5 / 12)
    assert summary["truncated"] == pytest.approx(0.25) and summary["mean_length"] == pytest.approx(11.5)
    low, high = summary["ci"]["pass@4"]
    assert 0.0 <= low <= summary["pass@4"] <= high <= 1.0
    with pytest.raises(ValueError, match="k must lie"):
        summarize(records_for(correct), [8])
    with pytest.raises(ValueError, match="same number of samples"):
        summarize(records_for(correct)[:-1], [1])


class ScriptedGenerator:
    """Answers problem p's sample s correctly when (p + s) % (p + 1) == 0, else with a wrong integer or no answer."""

    name = "scripted"

    def __init__(self, task, examples):
        self.answers = {tuple(task_prompt_ids): e["answer"] for task_prompt_ids, e in examples}

    def generate(self, prompt_ids, params):
        out = []
        for p, ids in enumerate(prompt_ids):
            gold = self.answers[tuple(ids)]
            for s in range(params.n):
                if (p + s) % (p + 1) == 0:
                    text = f"<think> sure </think> <answer> {gold} </answer>"
                elif s % 3 == 0:
                    text = "<think> hmm <script>alert(1)</script>"  # no answer, and HTML that must be escaped
                else:
                    text = f"<think> off </think> <answer> {int(gold) + 1 + s % 2} </answer>"
                out.append(Completion(p, list(range(3 + s)), text, None, "length" if s % 3 == 0 else "stop"))
        return out

    def sync_weights(self, model):
        pass


class CharTokenizer:
    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(ch) for ch in text]}


def scripted(task, count):
    tokenizer = CharTokenizer()
    examples = task.load(task.eval_split)[:count]
    pairs = [(tokenizer(task.prompt(e))["input_ids"], e) for e in examples]
    return ScriptedGenerator(task, pairs), tokenizer, examples


def recompute_from_samples(rows, ks):
    by_problem = {}
    for row in rows:
        by_problem.setdefault(row["problem_index"], []).append(row)
    out = {}
    n = len(next(iter(by_problem.values())))
    for k in ks:
        out[f"pass@{k}"] = sum(float(brute_pass_at_k(n, sum(r["correct"] > 0 for r in p), k))
                               for p in by_problem.values()) / len(by_problem)
    out["accuracy"] = sum(r["correct"] for r in rows) / len(rows)
    out["format"] = sum(r["formatted"] for r in rows) / len(rows)
    out["truncated"] = sum(r["truncated"] for r in rows) / len(rows)
    out["mean_length"] = sum(r["length"] for r in rows) / len(rows)
    out[f"maj@{n}"] = sum(Fraction(p[majority_vote([r["answer"] for r in p])[0]]["correct"]) if
                          any(r["answer"] is not None for r in p) else 0 for p in by_problem.values()) / len(by_problem)
    return out


def test_sample_eval_returns_flat_metrics_for_the_training_loop():
    task = get_task("arithmetic", test_size=6)
    generator, tokenizer, examples = scripted(task, 6)
    metrics = sample_eval(generator, tokenizer, task, examples, n=8, ks=[1, 8],
                          params=SamplingParams(n=1, temperature=1.0, max_new_tokens=16))
    assert {"pass@1", "pass@8", "maj@8", "mean@8", "format", "accuracy", "mean_length", "truncated"} <= set(metrics)
    assert metrics["problems"] == 6 and metrics["n"] == 8
    assert 0 < metrics["pass@1"] < metrics["pass@8"] == 1.0  # problem p is right at sample 0 at least


def test_run_eval_outputs_agree_with_the_per_sample_file(tmp_path):
    task = get_task("arithmetic", test_size=5)
    generator, tokenizer, _ = scripted(task, 5)
    params = SamplingParams(n=6, temperature=1.0, max_new_tokens=16, seed=0)
    summary = run_eval(generator, tokenizer, [task], params, [1, 2, 3, 6], tmp_path / "run", log_fn=lambda *_: None,
                       meta={"model": "scripted"})
    rows = read_jsonl(tmp_path / "run" / "samples_arithmetic.jsonl")
    assert len(rows) == 30 and {r["sample_index"] for r in rows} == set(range(6))
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    task_summary = on_disk["tasks"]["arithmetic"]
    for key, value in recompute_from_samples(rows, [1, 2, 3, 6]).items():
        assert task_summary[key] == pytest.approx(float(value), abs=1e-12), key
    assert 0 < task_summary["pass@1"] < task_summary["pass@6"] <= 1
    page = (tmp_path / "run" / "report.html").read_text()
    assert "data:image/png;base64," in page
    assert f"<tr><td>6</td><td>{100 * task_summary['pass@6']:.1f} " in page
    assert "<script>" not in page and "&lt;script&gt;" in page  # sample text is escaped
    assert (tmp_path / "run" / "pass_at_k_arithmetic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_two_result_folders(tmp_path):
    task = get_task("arithmetic", test_size=4)
    generator, tokenizer, _ = scripted(task, 4)
    for name, n in (("base", 4), ("rl", 4)):
        run_eval(generator, tokenizer, [task], SamplingParams(n=n, max_new_tokens=8), [1, 4], tmp_path / name,
                 log_fn=lambda *_: None, meta={"model": name})
    assert cli_main(["--compare", str(tmp_path / "base"), str(tmp_path / "rl"), "--output-dir",
                     str(tmp_path / "cmp")]) == 0
    table = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert set(table["arithmetic"]) == {"base (base)", "rl (rl)"}
    base = json.loads((tmp_path / "base" / "summary.json").read_text())["tasks"]["arithmetic"]
    assert table["arithmetic"]["base (base)"]["pass@4"] == base["pass@4"]
    page = (tmp_path / "cmp" / "comparison.html").read_text()
    assert page.count("<th>") == 3 and "data:image/png;base64," in page
    assert cli_main(["--compare", str(tmp_path / "base"), str(tmp_path / "nowhere")]) == 2


def test_cli_end_to_end_with_a_tiny_model(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    code = cli_main(["--model", str(tiny_model_dir), "--task", "arithmetic", "--n", "4", "--k", "1,2,4",
                     "--limit", "3", "--max-tokens", "12", "--backend", "hf", "--output-dir", str(out)])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"samples_arithmetic.jsonl", "summary.json", "pass_at_k_arithmetic.png",
                                               "report.html"}
    rows = read_jsonl(out / "samples_arithmetic.jsonl")
    assert len(rows) == 12 and all(1 <= r["length"] <= 12 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["backend"] == "hf" and summary["meta"]["n"] == 4
    assert summary["tasks"]["arithmetic"]["task_options"]["seed"] == 0
    for key, value in recompute_from_samples(rows, [1, 2, 4]).items():
        assert summary["tasks"]["arithmetic"][key] == pytest.approx(float(value), abs=1e-12), key
    assert re.search(r"arithmetic: 3 problems x 4 +pass@1", capsys.readouterr().out)


@pytest.mark.parametrize("argv,message", [
    (["--task", "nope"], "unknown task 'nope'"),
    (["--n", "4", "--k", "1,8"], "every k must be <= --n"),
    (["--compare", "only-one"], "two or more"),
    (["--task", "arithmetic", "--task-option", "colour=red"], "bad options"),
    (["--task", "arithmetic", "--task-option", "gsm8k.seed=1"], "not among the tasks"),
    (["--task", "arithmetic", "--task-option", "seed"], "expected KEY=VALUE"),
    (["--task", "arithmetic,amc23", "--task-option", "amc23.source=/nowhere/amc.jsonl"], "no such file"),
    (["--model", "./no/such/model"], "no such local folder"),
    (["--reward-workers", "-1"], "--reward-workers >= 0"),
    (["--reward-timeout", "0"], "--reward-timeout > 0"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    assert cli_main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_parses_k_list():
    with pytest.raises(SystemExit):
        cli_main(["--k", "1,x"])


def test_memoized_equivalence_asks_each_pair_once_and_skips_clearly_different_numbers():
    from zero_rl.evaluate import memoized_equivalence

    asked = []

    def checker(a, b):
        asked.append((a, b))
        if a == "boom":
            raise TimeoutError("checker gave up")
        return fraction_equal(a, b)

    check = memoized_equivalence(checker)
    assert check("1/2", "0.5") and check("1/2", "0.5") and asked == [("1/2", "0.5")]
    assert not check("3", "4.5") and len(asked) == 1  # two plain numbers far apart: no checker call
    assert not check("0.5", "0.50000001") and len(asked) == 2  # close numbers still go to the checker
    assert not check("boom", "1")  # a checker error counts as "different"
    assert majority_vote(["boom", "1", "1"], memoized_equivalence(checker)) == [1, 2]


def test_task_options_parse_json_values_and_task_prefixes():
    from zero_rl.evaluate import task_options

    assert task_options(["arithmetic", "amc23"], ["seed=3", "amc23.fallbacks=boxed", "arithmetic.operators=+-"]) \
        == {"arithmetic": {"seed": 3, "operators": "+-"}, "amc23": {"seed": 3, "fallbacks": "boxed"}}


def test_combine_shards_weights_by_problems():
    from zero_rl.evaluate import combine_shards

    parts = [{"pass@1": 0.5, "maj@4": 1.0, "problems": 2, "n": 4, "pass@1/ci_low": 0.1},
             {"pass@1": 0.2, "maj@4": 0.0, "problems": 3, "n": 4, "pass@1/ci_low": 0.0}, {"problems": 0}]
    assert combine_shards(parts) == pytest.approx({"pass@1": 0.32, "maj@4": 0.4, "problems": 5, "n": 4})
    assert combine_shards([{"problems": 0}]) == {"problems": 0}


def test_html_overview_lists_every_task(tmp_path):
    import dataclasses

    generator_tasks = [get_task("arithmetic", test_size=3),
                       dataclasses.replace(get_task("arithmetic", test_size=3, max_value=9), name="arithmetic_small")]
    pages = []
    for task in generator_tasks:
        generator, tokenizer, _ = scripted(task, 3)
        run_eval(generator, tokenizer, [task], SamplingParams(n=2), [1, 2], tmp_path / task.name,
                 log_fn=lambda *_: None)
        pages.append(json.loads((tmp_path / task.name / "summary.json").read_text()))
    merged = {"meta": pages[0]["meta"], "tasks": {**pages[0]["tasks"], **pages[1]["tasks"]}}
    from zero_rl.report import write_html

    page = write_html(tmp_path / "arithmetic", merged).read_text()
    assert "<h2>Overview</h2>" in page and "<td>arithmetic_small</td><td>3 &times; 2</td>" in page


def test_sample_eval_sharded_on_one_process_equals_sample_eval():
    from zero_rl.evaluate import sample_eval_sharded

    task = get_task("arithmetic", test_size=4)
    generator, tokenizer, examples = scripted(task, 4)
    params = SamplingParams(temperature=1.0, max_new_tokens=8)
    assert sample_eval_sharded(generator, tokenizer, task, examples, 4, [1, 4], params) == \
        sample_eval(generator, tokenizer, task, examples, 4, [1, 4], params)


def test_two_process_sharded_eval_equals_one_process(tmp_path):
    from launching import launch_two_cpu_processes

    result = launch_two_cpu_processes("ddp_eval.py", tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert ranks[0]["sharded"] == ranks[1]["sharded"]
    single = ranks[0]["single"]
    assert ranks[0]["sharded"]["problems"] == single["problems"] == 7
    for key in ("pass@1", "pass@2", "pass@6", "maj@6", "mean@2", "accuracy", "format", "mean_length"):
        assert ranks[0]["sharded"][key] == pytest.approx(single[key], abs=1e-12), key
    assert 0 < single["pass@1"] < single["pass@6"]


def test_plot_eval_history_draws_pass_at_k_against_step(tmp_path):
    from zero_rl.report import plot_eval_history

    rows = [{"step": s, "accuracy": 0.1, "sampled/pass@1": 0.1 + s / 200, "sampled/pass@8": 0.4 + s / 400,
             "sampled/maj@8": 0.2 + s / 300} for s in (0, 25, 50, 75, 100)]
    path = plot_eval_history(rows, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no pass@k"):
        plot_eval_history([{"step": 0, "accuracy": 0.5}], tmp_path / "none.png")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli_main(["--history", str(tmp_path / "run"), "--output-dir", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "eval_history.png").stat().st_size > 1000
    assert cli_main(["--history", str(tmp_path / "missing.jsonl"), "--output-dir", str(tmp_path / "out")]) == 2


def test_greedy_eval_in_chunks_equals_one_call():
    """The held-out greedy eval goes to the generator a chunk of prompts at a time; the chunking changes nothing."""
    from zero_rl.evaluate import greedy_eval
    from zero_rl.generation.hf import HFGenerator
    from zero_rl.models import load_model_and_tokenizer
    from zero_rl.tasks import get_task

    model, tokenizer = load_model_and_tokenizer(None, log=lambda *_: None)
    task = get_task("arithmetic")
    examples = task.load("test")[:20]
    calls = []

    class Counting(HFGenerator):
        def generate(self, prompt_ids, params):
            calls.append(len(prompt_ids))
            return super().generate(prompt_ids, params)

    whole = greedy_eval(Counting(model, tokenizer), tokenizer, task, examples, 32, prompt_suffix=" <think>")
    chunked = greedy_eval(Counting(model, tokenizer), tokenizer, task, examples, 32, prompt_suffix=" <think>",
                          batch_prompts=7)
    assert calls == [20, 7, 7, 6]
    assert whole == chunked and whole["accuracy"] > 0.5


class RecordingPool:
    """A RewardPool that notes when batches are submitted and collected, to check the order of work."""

    def __init__(self, pool, events):
        self.pool, self.events = pool, events

    def submit(self, *args):
        self.events.append("submit")
        return self.pool.submit(*args)

    def collect(self, ticket):
        self.events.append("collect")
        return self.pool.collect(ticket)


def test_eval_scored_in_a_pool_equals_inline_and_each_batch_is_scored_while_the_next_is_generated():
    from zero_rl.evaluate import greedy_eval, sample_records
    from zero_rl.scoring import RewardPool

    task = get_task("arithmetic", test_size=9)
    generator, tokenizer, examples = scripted(task, 9)
    events = []

    class Noting(ScriptedGenerator):
        def generate(self, prompt_ids, params):
            events.append("generate")
            return super().generate(prompt_ids, params)

    noting = Noting.__new__(Noting)
    noting.__dict__.update(generator.__dict__)
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=16, seed=0)
    inline = sample_records(generator, tokenizer, task, examples, params, batch_prompts=4)
    with RewardPool(workers=2, timeout_s=10.0) as pool:
        pooled = sample_records(noting, tokenizer, task, examples, params, batch_prompts=4,
                                pool=RecordingPool(pool, events))
        assert pooled == inline
        assert events == ["generate", "submit"] * 3 + ["collect"] * 3  # nothing waits for scores until the end
        greedy = greedy_eval(generator, tokenizer, task, examples, 16, batch_prompts=4, pool=pool)
    assert greedy == greedy_eval(generator, tokenizer, task, examples, 16, batch_prompts=4)
