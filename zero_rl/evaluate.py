"""Held-out evaluation: greedy accuracy, and sampled pass@k / maj@k / mean@k with bootstrap intervals.

Metrics, per task, from n sampled completions per problem (c of them correct):
- pass@k: the unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al. 2021, "Evaluating Large Language Models
  Trained on Code"), averaged over problems; computed as the product 1 - prod_{i=n-c+1}^{n} (1 - k/i), which
  stays finite for any n.
- maj@k: the n samples are cut into floor(n/k) consecutive blocks of k; in each block the extracted answers are
  voted on (answers grouped by the task's equivalence), and the block scores the accuracy of the winning
  group's first sample; a problem scores the mean over its blocks. See `majority_vote` for ties.
- mean@k: the n samples are cut into floor(n/k) consecutive blocks of k, as for maj@k; a problem scores the mean
  accuracy over all its blocks (so over the first floor(n/k) * k samples). Every sample counts, so mean@1 is the
  plain accuracy and equals pass@1 (c/n); it is never the first sample alone.
- format rate, mean completion length (tokens), share truncated (stopped by max_new_tokens).
- 95 % bootstrap intervals: problems resampled with replacement (`bootstrap_interval`).
"""

import argparse
import json
import logging
import math
import re
import sys
import time
from pathlib import Path

from zero_rl.generation import SamplingParams
from zero_rl.scoring import Scores, score_inline
from zero_rl.task_options import prompt_text

log = logging.getLogger("zero_rl.evaluate")


class ChunkScorer:
    """Scores generated chunks in order: in a RewardPool's background when one is given (chunk k is scored while
    the generator produces chunk k + 1), else inline as each chunk is added."""

    def __init__(self, rewards: dict, pool=None):
        self.rewards, self.pool, self.handles = rewards, pool, []

    def add(self, texts: list, examples: list) -> None:
        if self.pool is None:
            self.handles.append(score_inline(self.rewards, texts, examples))
        else:
            self.handles.append(self.pool.submit(self.rewards, texts, examples))

    def results(self) -> list:
        """The Scores of every chunk added, in order (waits for the pool)."""
        return [self.pool.collect(h) if self.pool is not None else h for h in self.handles]


def _joined(parts: list, rewards: dict) -> Scores:
    """One Scores from per-chunk Scores, items in chunk order; error, timeout and not-applicable counts summed."""
    errors, timeouts, not_applicable = {}, {}, {}
    for part in parts:
        for total, counts in ((errors, part.errors), (timeouts, part.timeouts),
                              (not_applicable, part.not_applicable)):
            for name, count in counts.items():
                total[name] = total.get(name, 0) + count
    return Scores(total_B=[v for p in parts for v in p.total_B],
                  components={name: [v for p in parts for v in p.components[name]] for name in rewards},
                  errors=errors, timeouts=timeouts, not_applicable=not_applicable)


def greedy_eval(generator, tokenizer, task, examples: list, max_new_tokens: int, prompt_suffix: str = "",
                batch_prompts: int = 64, pool=None) -> dict:
    """Greedy accuracy and format rate of the generator's current model on `examples`, `batch_prompts` prompts
    per generate call (a real vocabulary's activations for a whole held-out set at once would not fit).

    `prompt_suffix` is appended to every prompt (e.g. " <think>" for the pre-filled control). With a RewardPool,
    each chunk is scored in its workers while the next one is generated.
    """
    completions = []
    think_prefilled = prompt_suffix.strip().endswith("<think>")
    scorer = ChunkScorer(task.rewards, pool)
    for start in range(0, len(examples), batch_prompts):
        chunk = examples[start:start + batch_prompts]
        prompt_ids = [tokenizer(prompt_text(task, e, tokenizer) + prompt_suffix, add_special_tokens=False)["input_ids"]
                      for e in chunk]
        generated = generator.generate(prompt_ids, SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens))
        scorer.add([c.text for c in generated], [dict(chunk[c.prompt_index], think_prefilled=think_prefilled)
                                                 for c in generated])
        completions += generated
    scores = _joined(scorer.results(), task.rewards)
    out = {"accuracy": sum(scores.components[task.accuracy]) / len(examples), "n": len(examples)}
    if task.format:
        out["format"] = sum(scores.components[task.format]) / len(examples)
    out["mean_length"] = sum(len(c.token_ids) for c in completions) / len(completions)
    return out


# ---------------------------------------------------------------- estimators (pure)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with c correct among n samples: 1 - C(n-c, k) / C(n, k).

    Product form (Chen et al. 2021): C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i), no huge binomials.
    """
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:  # every k-subset holds a correct sample
        return 1.0
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def exact_equal(a: str, b: str) -> bool:
    """Answers equal as stripped strings, or as integers when both parse as integers ("007" == "7")."""
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    try:
        return int(a) == int(b)
    except ValueError:
        return False


def _equivalent_or_not(equivalent, a: str, b: str) -> bool:
    """equivalent(a, b); a checker that raises or times out on odd answers counts as "different", logged."""
    try:
        return bool(equivalent(a, b))
    except Exception as error:
        log.warning("answer equivalence raised %s on %r vs %r; counted as different", type(error).__name__,
                    a[:80], b[:80])
        return False


_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def memoized_equivalence(equivalent):
    """`equivalent` with each pair checked once, and two plain decimals that differ by more than a relative
    1e-4 called different without asking it (a math checker takes milliseconds a pair; a vote over n answers
    asks up to n^2/2 pairs, again for every k)."""
    cache: dict = {}

    def check(a: str, b: str) -> bool:
        key = (a, b)
        if key not in cache:
            x, y = a.strip(), b.strip()
            if _PLAIN_NUMBER.fullmatch(x) and _PLAIN_NUMBER.fullmatch(y) and \
                    abs(float(x) - float(y)) > 1e-4 * max(1.0, abs(float(x)), abs(float(y))):
                cache[key] = False
            else:
                cache[key] = _equivalent_or_not(equivalent, a, b)
        return cache[key]

    return check


def group_answers(answers: list, equivalent=exact_equal) -> list[list[int]]:
    """Indices of the non-None answers grouped by `equivalent`, groups in order of first appearance.

    An answer joins the first group whose first member it is equivalent to, called as
    equivalent(first member, answer) (equivalence is assumed transitive; for a checker that is not, the order
    of samples decides).
    """
    groups: list[list[int]] = []
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            first = answers[group[0]]
            if answer == first or _equivalent_or_not(equivalent, first, answer):
                group.append(index)
                break
        else:
            groups.append([index])
    return groups


def majority_vote(answers: list, equivalent=exact_equal) -> list[int] | None:
    """The winning group's sample indices (see `group_answers`), or None when no sample has an answer.

    Ties between equally large groups go to the group whose first sample comes earliest, which is
    deterministic and independent of the answers' text.
    """
    groups = group_answers(answers, equivalent)
    if not groups:
        return None
    return max(groups, key=lambda g: (len(g), -g[0]))


def maj_at_k(answers: list, correct: list, k: int, equivalent=exact_equal) -> float:
    """Mean over the floor(n/k) consecutive blocks of k samples of the accuracy of the block's vote.

    A block scores correct[first sample of the winning group]; a block with no extracted answer scores 0.
    """
    if len(answers) != len(correct):
        raise ValueError(f"{len(answers)} answers but {len(correct)} correctness flags")
    blocks = len(answers) // k
    if k < 1 or blocks == 0:
        raise ValueError(f"maj@{k} needs 1 <= k <= n = {len(answers)}")
    total = 0.0
    for b in range(blocks):
        winner = majority_vote(answers[b * k:(b + 1) * k], equivalent)
        total += float(correct[b * k + winner[0]]) if winner else 0.0
    return total / blocks


def bootstrap_interval(values: list, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple:
    """Percentile bootstrap interval of the mean of per-problem `values` (problems resampled with replacement)."""
    import numpy as np

    values_P = np.asarray(values, dtype=float)
    if values_P.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    index_RP = rng.integers(0, values_P.size, size=(resamples, values_P.size))
    means_R = values_P[index_RP].mean(axis=1)
    tail = (1.0 - level) / 2
    return (float(np.quantile(means_R, tail)), float(np.quantile(means_R, 1.0 - tail)))


# ---------------------------------------------------------------- from per-sample records to a summary


def mean_at_k(correct: list, k: int) -> float:
    """Mean accuracy over the floor(n/k) consecutive blocks of k samples (the samples a block leaves over are
    not used, as in maj@k); with k = 1 this is c/n, the same number as pass@1."""
    blocks = len(correct) // k
    if blocks < 1:
        raise ValueError(f"mean@{k} needs at least k = {k} samples, got {len(correct)}")
    return sum(float(c) for c in correct[: blocks * k]) / (blocks * k)


def per_problem(records: list) -> list[list[dict]]:
    """Records grouped by problem, in order of first appearance, each group in sample order."""
    groups: dict = {}
    for record in records:
        groups.setdefault(record["problem_index"], []).append(record)
    return [sorted(g, key=lambda r: r["sample_index"]) for g in groups.values()]


def summarize(records: list, ks: list, equivalent=exact_equal, bootstrap_resamples: int = 1000,
              seed: int = 0) -> dict:
    """Task summary from per-sample records (keys: problem_index, sample_index, correct, formatted, answer,
    length, truncated). Every metric is a mean over problems, with a 95 % bootstrap interval in `ci`."""
    problems = per_problem(records)
    if not problems:
        raise ValueError("no samples to summarize")
    n = len(problems[0])
    if any(len(p) != n for p in problems):
        raise ValueError(f"every problem needs the same number of samples; got {sorted({len(p) for p in problems})}")
    bad = [k for k in ks if not 1 <= k <= n]
    if bad:
        raise ValueError(f"k must lie in 1..n = {n}; got {bad}")
    equivalent = memoized_equivalence(equivalent)
    per_problem_values: dict = {}
    for k in ks:
        per_problem_values[f"pass@{k}"] = [pass_at_k(n, sum(bool(r["correct"]) for r in p), k) for p in problems]
        per_problem_values[f"maj@{k}"] = [maj_at_k([r["answer"] for r in p], [bool(r["correct"]) for r in p], k,
                                                   equivalent) for p in problems]
        per_problem_values[f"mean@{k}"] = [mean_at_k([bool(r["correct"]) for r in p], k) for p in problems]
    per_problem_values["accuracy"] = [sum(float(r["correct"]) for r in p) / n for p in problems]
    if all(r.get("formatted") is not None for r in records):
        per_problem_values["format"] = [sum(float(r["formatted"]) for r in p) / n for p in problems]
    per_problem_values["mean_length"] = [sum(r["length"] for r in p) / n for p in problems]
    per_problem_values["truncated"] = [sum(float(r["truncated"]) for r in p) / n for p in problems]
    summary = {"problems": len(problems), "n": n, "ks": list(ks)}
    ci = {}
    for name, values in per_problem_values.items():
        summary[name] = sum(values) / len(values)
        if name != "mean_length":
            ci[name] = list(bootstrap_interval(values, bootstrap_resamples, seed))
    summary["ci"] = ci
    return summary


# ---------------------------------------------------------------- sampling and scoring


def equivalence_for(task):
    """How maj@k groups this task's answers: the task's own checker if it has one, math equivalence for
    tasks that extract with `zero_rl.rewards.math_answer`, else `exact_equal`."""
    own = getattr(task, "answers_equivalent", None)
    if own is not None:
        return own
    extract = getattr(task.extract_answer, "func", task.extract_answer)  # through functools.partial
    if extract is not None and getattr(extract, "__module__", "") == "zero_rl.rewards.math_answer":
        from zero_rl.rewards.math_answer import answers_equivalent

        return answers_equivalent
    return exact_equal


def sample_records(generator, tokenizer, task, examples: list, params: SamplingParams, prompt_suffix: str = "",
                   batch_prompts: int = 32, pool=None) -> list:
    """Sample params.n completions per example and score each: one record per completion. A sample is
    "correct" when the task's accuracy reward gives it full marks (1.0); every raw reward is kept in "scores".

    Prompts go to the generator `batch_prompts` at a time (seed + batch number, so batches differ). With a
    RewardPool, each batch is scored in its workers while the next one is generated.
    """
    if params.n < 1:
        raise ValueError(f"n must be >= 1, got {params.n}")
    think_prefilled = prompt_suffix.strip().endswith("<think>")
    scorer, chunks = ChunkScorer(task.rewards, pool), []
    for start in range(0, len(examples), batch_prompts):
        batch = examples[start:start + batch_prompts]
        prompt_ids = [tokenizer(prompt_text(task, e, tokenizer) + prompt_suffix, add_special_tokens=False)["input_ids"]
                      for e in batch]
        batch_params = SamplingParams(n=params.n, temperature=params.temperature, top_p=params.top_p,
                                      max_new_tokens=params.max_new_tokens, stop=list(params.stop),
                                      seed=None if params.seed is None else params.seed + start // batch_prompts)
        completions = generator.generate(prompt_ids, batch_params)
        if len(completions) != len(batch) * params.n:
            raise RuntimeError(f"generator {getattr(generator, 'name', generator)!r} returned {len(completions)} "
                               f"completions for {len(batch)} prompts x n={params.n}")
        scorer.add([c.text for c in completions],
                   [dict(batch[c.prompt_index], think_prefilled=think_prefilled) for c in completions])
        chunks.append((start, batch, completions))
    records = []
    for (start, batch, completions), scores in zip(chunks, scorer.results()):
        for name, count in scores.errors.items():
            log.warning("task %r: reward %r raised on %d of %d completions (scored 0)", task.name, name, count,
                        len(completions))
        for name, count in scores.timeouts.items():
            log.warning("task %r: reward %r timed out on %d of %d completions (scored 0)", task.name, name, count,
                        len(completions))
        records += _batch_records(task, start, batch, completions, scores)
    return records


def _batch_records(task, start: int, batch: list, completions: list, scores: Scores) -> list:
    records, seen_per_prompt = [], {}
    for i, completion in enumerate(completions):
        example = batch[completion.prompt_index]
        sample_index = seen_per_prompt.get(completion.prompt_index, 0)
        seen_per_prompt[completion.prompt_index] = sample_index + 1
        answer = None
        if task.extract_answer is not None:
            try:
                answer = task.extract_answer(completion.text)
            except Exception as error:  # a malformed completion must not stop the eval: no answer, logged
                log.warning("task %r: extract_answer raised %s on problem %r; no answer", task.name,
                            type(error).__name__, example.get("id"))
        records.append({
            "task": task.name,
            "problem_index": start + completion.prompt_index,
            "problem_id": example.get("id"),
            "sample_index": sample_index,
            "gold": example.get("answer"),
            "completion": completion.text,
            "answer": answer,
            "correct": scores.components[task.accuracy][i] >= 1.0,  # full marks; the raw score is in "scores"
            "formatted": scores.components[task.format][i] if task.format else None,
            "scores": {name: values[i] for name, values in scores.components.items()},
            "length": len(completion.token_ids),
            "truncated": completion.finish_reason == "length",
        })
    return records


def sample_eval(generator, tokenizer, task, examples: list, n: int, ks: list, params: SamplingParams,
                prompt_suffix: str = "", bootstrap_resamples: int = 0, pool=None) -> dict:
    """Flat metrics for the training loop's logs: {"pass@1", "pass@8", "maj@8", "mean@8", "accuracy",
    "format", "mean_length", "truncated", "problems", "n"}. params.n is overridden by n."""
    params = SamplingParams(n=n, temperature=params.temperature, top_p=params.top_p,
                            max_new_tokens=params.max_new_tokens, stop=list(params.stop), seed=params.seed)
    records = sample_records(generator, tokenizer, task, examples, params, prompt_suffix, pool=pool)
    summary = summarize(records, ks, equivalence_for(task), bootstrap_resamples=max(bootstrap_resamples, 1))
    out = {key: value for key, value in summary.items() if key not in ("ci", "ks")}
    if bootstrap_resamples:
        out.update({f"{key}/ci_low": low for key, (low, _high) in summary["ci"].items()})
        out.update({f"{key}/ci_high": high for key, (_low, high) in summary["ci"].items()})
    return out


def combine_shards(parts: list) -> dict:
    """One metrics dict from `sample_eval` results on disjoint shards of the problems (one per rank):
    problem-weighted means; interval keys are dropped (they do not combine)."""
    parts = [p for p in parts if p.get("problems")]
    if not parts:
        return {"problems": 0}
    total = sum(p["problems"] for p in parts)
    keys = [k for k in parts[0] if k not in ("problems", "n") and "/ci_" not in k and all(k in p for p in parts)]
    combined = {key: sum(p[key] * p["problems"] for p in parts) / total for key in keys}
    combined.update(problems=total, n=parts[0]["n"])
    return combined


def sample_eval_sharded(generator, tokenizer, task, examples: list, n: int, ks: list, params: SamplingParams,
                        accelerator=None, prompt_suffix: str = "", pool=None) -> dict:
    """`sample_eval` with the problems split across ranks (rank r takes examples[r::world]) and the results
    combined on every rank (`combine_shards`); with no accelerator or one process, plain `sample_eval`."""
    world = accelerator.num_processes if accelerator is not None else 1
    rank = accelerator.process_index if accelerator is not None else 0
    shard = examples[rank::world]
    result = sample_eval(generator, tokenizer, task, shard, n, ks, params, prompt_suffix, pool=pool) if shard \
        else {"problems": 0}
    if world == 1:
        return result
    from accelerate.utils import gather_object

    return combine_shards(gather_object([result]))


# ---------------------------------------------------------------- a whole run: outputs on disk


def write_jsonl(path: Path, rows: list) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def held_out_examples(tasks: list, limit: int = 0) -> dict:
    """{task name: the first `limit` (0: all) examples of its held-out split}; a task with none raises."""
    out = {}
    for task in tasks:
        examples = task.load(task.eval_split)
        examples = examples[:limit] if limit else examples
        if not examples:
            raise ValueError(f"task {task.name!r}: the {task.eval_split!r} split is empty")
        out[task.name] = examples
    return out


def run_eval(generator, tokenizer, tasks: list, params: SamplingParams, ks: list, output_dir, limit: int = 0,
             meta: dict | None = None, bootstrap_resamples: int = 1000, log_fn=print,
             examples_by_task: dict | None = None, pool=None) -> dict:
    """Evaluate every task on its held-out split (or on examples_by_task[name]); write samples_<task>.jsonl,
    summary.json, pass_at_k_<task>.png and report.html into output_dir. Returns the summary dict. With a
    RewardPool, each batch is scored in its workers (with their time limit) while the next is generated."""
    from zero_rl import report

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = {"meta": dict(meta or {}, n=params.n, ks=list(ks), temperature=params.temperature,
                            top_p=params.top_p, max_new_tokens=params.max_new_tokens, seed=params.seed),
               "tasks": {}}
    examples_by_task = examples_by_task or held_out_examples(tasks, limit)
    for task in tasks:
        started = time.time()
        examples = examples_by_task[task.name]
        records = sample_records(generator, tokenizer, task, examples, params, pool=pool)
        write_jsonl(output_dir / f"samples_{task.name}.jsonl", records)
        task_summary = summarize(records, ks, equivalence_for(task), bootstrap_resamples, seed=params.seed or 0)
        task_summary["wall_s"] = round(time.time() - started, 2)
        task_summary["task_options"] = json.loads(json.dumps(task.options, default=str))
        summary["tasks"][task.name] = task_summary
        report.plot_pass_at_k({summary["meta"].get("model", "model"): task_summary}, task.name,
                              output_dir / f"pass_at_k_{task.name}.png")
        log_fn(report.summary_line(task.name, task_summary))
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    report.write_html(output_dir, summary)
    return summary


def _int_list(text: str) -> list:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return sorted(set(values))


def task_options(names: list, assignments: list) -> dict:
    """{task name: {option: value}} from ["KEY=VALUE", "TASK.KEY=VALUE", ...]; a TASK. prefix picks one task."""
    options = {name: {} for name in names}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--task-option {assignment!r}: expected KEY=VALUE or TASK.KEY=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        target, dot, option = key.strip().rpartition(".")
        if dot and target not in options:
            raise ValueError(f"--task-option {assignment!r}: {target!r} is not among the tasks {', '.join(names)}")
        for name in ([target] if dot else names):
            options[name][option] = value
    return options


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already says its default or there is none."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False or action.default == [] \
                or action.default == argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zero-rl eval", formatter_class=DefaultsHelpFormatter,
        description="Sample n completions per held-out problem; report pass@k, maj@k, mean@k with 95% bootstrap "
                    "intervals, per-sample JSONL, plots and an HTML page. Or compare result folders.")
    parser.add_argument("--model", default=None, help="hub name or local folder (default: the embedded tiny model)")
    parser.add_argument("--task", default="arithmetic", help="task name(s), comma-separated (see `zero-rl tasks`)")
    parser.add_argument("--n", type=int, default=16, help="samples per problem")
    parser.add_argument("--k", type=_int_list, default=None,
                        help="k values, e.g. 1,2,4,8,16 (default: powers of 2 up to n, and n)")
    parser.add_argument("--temperature", type=float, default=0.6, help="sampling temperature (0: greedy)")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling threshold")
    parser.add_argument("--max-tokens", type=int, default=1024, help="max new tokens per completion")
    parser.add_argument("--output-dir", default="eval_out", help="where results, plots and report.html go")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--limit", type=int, default=0, help="first N problems of each task (0: all)")
    parser.add_argument("--backend", default="auto", choices=("hf", "vllm", "auto"),
                        help="generator: transformers, vLLM, or vLLM when it imports")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"), help="model weights dtype")
    parser.add_argument("--reward-workers", type=int, default=0,
                        help="score in this many worker processes, each completion under --reward-timeout, while the "
                             "next batch is generated (0: inline, in this process)")
    parser.add_argument("--reward-timeout", type=float, default=10.0,
                        help="seconds one reward may take on one completion in a worker (then a counted 0)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    parser.add_argument("--task-option", action="append", default=[], metavar="[TASK.]KEY=VALUE",
                        help="a task build option, for every task or for one (amc23.fallbacks=boxed); "
                             "values are read as JSON when they parse, else as text; repeatable")
    parser.add_argument("--history", metavar="RUN", default=None,
                        help="plot pass@k / maj@k against step from a training run's eval.jsonl (the run folder or "
                             "the file); writes eval_history.png into --output-dir (no sampling)")
    parser.add_argument("--compare", nargs="+", metavar="DIR", default=None,
                        help="compare two or more result folders (no sampling); writes into --output-dir")
    return parser


def cli_main(argv: list) -> int:
    args = build_parser().parse_args(argv)
    from zero_rl import report

    if args.history:
        source = Path(args.history)
        source = source / "eval.jsonl" if source.is_dir() else source
        try:
            rows = read_jsonl(source)
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            path = report.plot_eval_history(rows, Path(args.output_dir) / "eval_history.png", title=str(source))
        except (FileNotFoundError, ValueError) as error:
            print(f"zero-rl eval --history: {error}", file=sys.stderr)
            return 2
        print(f"curves: {path}")
        return 0
    if args.compare:
        if len(args.compare) < 2:
            print("zero-rl eval --compare needs two or more result folders", file=sys.stderr)
            return 2
        try:
            path = report.compare(args.compare, args.output_dir)
        except (FileNotFoundError, ValueError) as error:
            print(f"zero-rl eval --compare: {error}", file=sys.stderr)
            return 2
        print(f"comparison: {path}")
        return 0
    if args.n < 1 or args.max_tokens < 1 or not 0 < args.top_p <= 1 or args.temperature < 0 or args.limit < 0 \
            or args.reward_workers < 0 or args.reward_timeout <= 0:
        print("zero-rl eval: need --n >= 1, --max-tokens >= 1, 0 < --top-p <= 1, --temperature >= 0, --limit >= 0, "
              "--reward-workers >= 0, --reward-timeout > 0", file=sys.stderr)
        return 2
    ks = args.k or sorted({2 ** i for i in range(int(math.log2(args.n)) + 1)} | {args.n})
    if max(ks) > args.n:
        print(f"zero-rl eval: every k must be <= --n ({args.n}); got {ks}", file=sys.stderr)
        return 2
    from zero_rl.tasks import get_task

    names = [name.strip() for name in args.task.split(",") if name.strip()]
    try:
        options = task_options(names, args.task_option)
        tasks = [get_task(name, **options[name]) for name in names]
        examples_by_task = held_out_examples(tasks, args.limit)  # before the model: bad data fails in seconds
    except (KeyError, ValueError) as error:  # DataError is a ValueError
        print(f"zero-rl eval: {error.args[0]}", file=sys.stderr)
        return 2
    from zero_rl.config import ConfigError
    from zero_rl.preflight import check_model

    try:
        check_model(args.model)  # a missing folder or unknown hub name: one line, before anything loads
    except ConfigError as error:
        print(f"zero-rl eval: --model: {error}", file=sys.stderr)
        return 2
    pool = None
    if args.reward_workers:  # its workers start (import sympy, warm up) while the model loads
        from zero_rl.scoring import RewardPool

        pool = RewardPool(workers=args.reward_workers, timeout_s=args.reward_timeout)
    try:
        _sample_and_report(args, tasks, ks, examples_by_task, pool)
    finally:
        if pool is not None:
            pool.close()
    print(f"results: {Path(args.output_dir) / 'report.html'}")
    return 0


def _sample_and_report(args, tasks: list, ks: list, examples_by_task: dict, pool) -> None:
    from zero_rl.generation import build_generator
    from zero_rl.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(args.model, args.dtype)
    try:
        generator = build_generator(args.backend, model, tokenizer)
    except ImportError as error:  # vLLM imports but this build has no vLLM generator
        if args.backend != "auto":
            raise
        print(f"zero-rl eval: the vLLM generator is not available ({error}); using transformers", file=sys.stderr)
        generator = build_generator("hf", model, tokenizer)
    params = SamplingParams(n=args.n, temperature=args.temperature, top_p=args.top_p,
                            max_new_tokens=args.max_tokens, seed=args.seed)
    meta = {"model": args.model or "embedded", "backend": generator.name, "limit": args.limit}
    run_eval(generator, tokenizer, tasks, params, ks, args.output_dir, limit=args.limit, meta=meta,
             bootstrap_resamples=args.bootstrap, examples_by_task=examples_by_task, pool=pool)
