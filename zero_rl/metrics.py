"""Run logging: JSON lines in the run directory and a live progress display."""

import json
import math
import time
from pathlib import Path


def _parses(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def truncate_rows(path: Path, keep) -> int:
    """Rewrite a JSON-lines file keeping the rows for which keep(row) is true; returns how many were dropped.
    A resumed run calls this so that every file holds one row per step (the killed run's rows after the
    checkpoint are replaced by the resumed run's)."""
    path = Path(path)
    if not path.exists():
        return 0
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if _parses(line) and keep(json.loads(line))]  # a kill can cut the last line
    if len(kept) != len(lines):
        staging = path.with_name(path.name + ".tmp")
        staging.write_text("".join(line + "\n" for line in kept))
        staging.replace(path)
    return len(lines) - len(kept)


def truncate_for_resume(directory: Path, start_step: int, total_steps: int) -> int:
    """Drop the rows a resumed run will write again: metrics after `start_step`, and held-out evals after it
    (at it too when the resumed run evaluates that step again: step 0, or the final step). Returns the count."""
    directory = Path(directory)
    dropped = truncate_rows(directory / "metrics.jsonl", lambda row: row.get("step", 0) <= start_step)
    dropped += truncate_rows(directory / "eval.jsonl", lambda row: row.get("step", 0) < start_step or (
        row.get("step") == start_step and 0 < start_step < total_steps))
    truncate_rows(directory / "samples.jsonl", lambda row: row.get("step", 0) <= start_step)  # (not counted: the
    # message is about metric and eval rows)
    return dropped


SAMPLES_PER_STEP = 4
"""Completions kept per step in samples.jsonl (for the run report: what the model wrote, with its rewards)."""


def sample_rows(examples: list, completions: list, scores, prompt_text=None, count: int = SAMPLES_PER_STEP) -> list:
    """Up to `count` completions of a step, from different prompts first (round robin over the groups), each with
    its prompt (`prompt_text(prompt_index)`, if given), text, total reward and reward components."""
    by_prompt = {}
    for index, completion in enumerate(completions):
        by_prompt.setdefault(completion.prompt_index, []).append(index)
    order = []
    for round_ in range(max((len(v) for v in by_prompt.values()), default=0)):
        order += [indices[round_] for indices in by_prompt.values() if round_ < len(indices)]
    rows = []
    for index in order[:count]:
        completion = completions[index]
        example = examples[completion.prompt_index]
        rows.append({"prompt_index": completion.prompt_index, "example_id": str(example.get("id")),
                     "answer": str(example.get("answer")),
                     "prompt": prompt_text(completion.prompt_index) if prompt_text else None,
                     "completion": completion.text, "length": len(completion.token_ids),
                     "finish_reason": completion.finish_reason, "reward": scores.total_B[index],
                     "components": {name: values[index] for name, values in scores.components.items()}})
    return rows


class RunLog:
    """Appends one JSON object per line to metrics.jsonl / eval.jsonl; shows progress with rich in a terminal
    and as plain lines otherwise; sends the rows to the run's trackers (main process)."""

    def __init__(self, directory: Path, total_steps: int, start_step: int = 0, enabled: bool = True,
                 progress: bool = True, label: str = "GRPO", report_to=(), config: dict | None = None):
        from zero_rl.progress import PlainProgress, is_terminal

        self.directory = Path(directory)
        self.enabled = enabled
        self.progress = None
        self.plain = None
        self.trackers = None
        if enabled and report_to:
            from zero_rl.trackers import Trackers

            self.directory.mkdir(parents=True, exist_ok=True)
            self.trackers = Trackers(report_to, self.directory, config, warn=self.print)
        if enabled and progress and not is_terminal():
            self.plain = PlainProgress(label, total_steps, done=start_step)
        elif enabled and progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                     TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                     TimeRemainingColumn())
            self.task_id = self.progress.add_task("train", total=total_steps, completed=start_step, status="")
            self.progress.start()

    def print(self, message: str) -> None:
        if not self.enabled:
            return
        if getattr(self, "progress", None) is not None:
            self.progress.console.print(message)
        else:
            print(message, flush=True)

    def write(self, name: str, record: dict) -> None:
        if not self.enabled:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.directory / name, "a") as f:
            f.write(json.dumps(dict(clean, time=time.time())) + "\n")
        if self.trackers is not None and name == "eval.jsonl" and "step" in record:
            # held-out rows at their training step (value_pretrain.jsonl counts its own steps before step 1:
            # W&B drops rows whose step goes backwards, so those stay in their file)
            self.trackers.log(clean, record["step"], prefix="eval/")

    def samples(self, step: int, rows: list) -> None:
        """A few of the step's completions with their rewards, to samples.jsonl."""
        if self.enabled:
            self.write("samples.jsonl", {"step": step, "samples": rows})

    def step(self, step: int, metrics: dict) -> None:
        self.write("metrics.jsonl", dict(metrics, step=step))
        if not self.enabled:
            return
        if self.trackers is not None:
            self.trackers.log(metrics, step)
        status = (f"reward {metrics['reward/total']:.3f}  acc {metrics.get('accuracy', float('nan')):.2f}  "
                  f"fmt {metrics.get('format_rate', float('nan')):.2f}  len {metrics['completion/length_mean']:.0f}  "
                  f"{metrics['time/step']:.1f}s/step")
        if self.progress is not None:
            self.progress.update(self.task_id, completed=step, status=status)
        elif self.plain is not None:
            self.plain.update(step, status)
        else:
            print(f"step {step}: {status}", flush=True)

    def close(self, failed: bool = False) -> None:
        if self.trackers is not None:
            self.trackers.close(failed=failed)
            self.trackers = None
        if self.plain is not None:
            self.plain.close()
            self.plain = None
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
