"""What `zero-rl train` checks before any model loads, so a user error costs seconds, not a model load:
the task builds with its options, both splits load and do not overlap, the model is a local folder that exists
or a hub name that can be fetched, the process count divides the batch, and the run folder is new, resumable
with a compatible config, or explicitly overwritten. Each failure is one ConfigError / DataError line.
Nothing here writes: the run folder is created only after every check has passed.
"""

import dataclasses
import inspect
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

from zero_rl.checkpoint import checkpoint_step, resume_point
from zero_rl.config import ConfigError, TrainConfig, resume_differences
from zero_rl.data import DataError

RUN_FILES = ("config.yaml", "metrics.jsonl", "eval.jsonl", "report.json", "report_before.json", "checkpoints")
"""What a training run writes into its folder (and all that --overwrite deletes)."""
RUN_FILES += ("samples.jsonl", "report.html", "report_plots", "tensorboard", "wandb", "mlflow.db")  # report, trackers

OVERLAP_REFUSED = 0.5
"""Share of held-out problems also in the training split above which training is refused (below: a warning)."""


@dataclass
class Prepared:
    """The checked pieces `run_training` goes on with."""

    task: object
    train_examples: list
    eval_examples: list
    checkpoint: Path | None
    overwrite: bool


def build_task(config: TrainConfig):
    """The task, with its options checked against its build function's parameters first."""
    from zero_rl.tasks import TASKS

    from zero_rl.task_options import COMMON_OPTIONS, apply_common, split_common

    name, (options, common) = config.task.name, split_common(config.task.options)
    if name not in TASKS:
        raise ConfigError(f"task.name={name!r} is not a registered task; choose one of: {', '.join(sorted(TASKS))}")
    accepted = inspect.signature(TASKS[name]).parameters
    unknown = sorted(set(options) - set(accepted))
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    if unknown and not takes_any:
        raise ConfigError(f"task {name!r} has no option(s) {', '.join(unknown)}; its options: "
                          f"{', '.join(accepted)}, and those of every task: {', '.join(COMMON_OPTIONS)} "
                          f"(`zero-rl tasks -v` shows them with defaults)")
    try:
        return apply_common(TASKS[name](**options), **common)
    except (TypeError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise ConfigError(f"task {name!r} with options {options}: {error}") from None


def _prompt_key(task, example: dict) -> str:
    return " ".join(getattr(task.prompt, "base", task.prompt)(example).split())  # (chat: the question's prompt)


def split_overlap(task, train: list, held_out: list) -> list:
    """Held-out examples that also appear in the training split, by id or by prompt text (whitespace-normalised)."""
    ids = {example.get("id") for example in train} - {None}
    texts = {_prompt_key(task, example) for example in train}
    return [e for e in held_out if e.get("id") in ids or _prompt_key(task, e) in texts]


def load_splits(task, eval_size: int, warn=print) -> tuple[list, list]:
    """(train, whole held-out split) examples; refuses an empty split or a held-out split that is mostly training data,
    warns on a partial overlap."""
    train = task.load(task.train_split)
    full_held_out = task.load(task.eval_split)
    held_out = full_held_out[:eval_size] if eval_size else full_held_out
    for split, rows in ((task.train_split, train), (task.eval_split, held_out)):
        if not rows:
            raise DataError(f"task {task.name!r}: split {split!r} has no examples")
    shared = split_overlap(task, train, held_out)
    if shared:
        message = (f"task {task.name!r}: {len(shared)} of {len(held_out)} held-out problems also appear in the "
                   f"training split (same id or same prompt, e.g. id {shared[0].get('id')!r})")
        if len(shared) >= OVERLAP_REFUSED * len(held_out):
            raise DataError(f"{message}; held-out numbers would be measured on training data. Give a separate "
                            f"held-out source (see `zero-rl tasks -v` for the task's data options)")
        warn(f"WARNING: {message}; their held-out scores measure memorisation")
    return train, full_held_out


def _hub_reachable(timeout_s: float = 3.0) -> str | None:
    """None when the hub's host accepts a connection, else why not."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme != "http" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as error:
        return f"{host} cannot be reached ({error.strerror or error})"
    return None


def check_model(name_or_path: str | None) -> None:
    """A local folder must exist and hold config.json; a hub name must be cached or the hub reachable."""
    from zero_rl.models import EMBEDDED_VARIANTS

    if name_or_path is None or name_or_path in EMBEDDED_VARIANTS:
        return
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"model.name_or_path={name_or_path!r}: this folder has no config.json "
                              f"(expected a saved model: config.json, weights and tokenizer)")
        return
    looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1 or "\\" in name_or_path
    if looks_local:
        raise ConfigError(f"model.name_or_path={name_or_path!r}: no such local folder (a hub name looks like "
                          f"org/name, e.g. Qwen/Qwen2.5-0.5B)")
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name_or_path)
    except HFValidationError:
        raise ConfigError(f"model.name_or_path={name_or_path!r}: neither a local folder nor a valid hub name "
                          f"(org/name)") from None
    if isinstance(try_to_load_from_cache(name_or_path, "config.json"), str):
        return
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ConfigError(f"model.name_or_path={name_or_path!r} is not in the local Hugging Face cache and "
                          f"HF_HUB_OFFLINE is set; download it first or pass a local folder")
    why = _hub_reachable()
    if why:
        raise ConfigError(f"model.name_or_path={name_or_path!r} is not a local folder or in the Hugging Face "
                          f"cache, and {why}; download it where there is network or pass a local folder")


def check_world(config: TrainConfig, world: int) -> None:
    if config.run.prompts_per_step % world:
        raise ConfigError(f"run.prompts_per_step={config.run.prompts_per_step} must divide evenly across the "
                          f"{world} processes of this launch (WORLD_SIZE); use a multiple of {world}")
    tp = config.generation.tensor_parallel_size
    if config.generation.backend == "vllm" and world % tp:
        raise ConfigError(f"generation.tensor_parallel_size={tp} needs a multiple of {tp} processes, got {world}")


def _describe_run(out: Path) -> str:
    import json

    steps = []
    metrics = out / "metrics.jsonl"
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            try:
                steps.append(json.loads(line)["step"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return f" (metrics for steps {steps[0]}..{steps[-1]})" if steps else ""


def check_run_dir(config: TrainConfig, overwrite: bool) -> Path | None:
    """The checkpoint to resume from (None: start at step 0). Refuses a folder that already holds files unless
    resuming (with a compatible config and a checkpoint not beyond run.steps) or overwriting."""
    out = Path(config.run.output_dir)
    if config.run.resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other: continue the run in "
                          f"{out} or replace it, not both")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"run.output_dir={str(out)!r} is a file, not a folder")
    contents = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if config.run.resume:
        saved = out / "config.yaml"
        if saved.exists():
            try:
                saved_config = yaml.safe_load(saved.read_text()) or {}
            except yaml.YAMLError as error:
                raise ConfigError(f"{saved}: not valid YAML ({error}); cannot check the run being resumed") from None
            differences = resume_differences(saved_config, config.to_dict())
            if differences:
                raise ConfigError(f"--resume: the run in {out} was started with a different config: "
                                  f"{'; '.join(differences)}. Resume with its values, or start a new run with "
                                  f"another --output-dir")
        elif any(name in RUN_FILES for name in contents):
            raise ConfigError(f"--resume: {out} has no config.yaml, so it cannot be checked as the same run; "
                              f"use --overwrite or another --output-dir")
        return resume_point(out / "checkpoints", config.run.steps)
    if contents and not overwrite:
        shown = ", ".join(contents[:5]) + (f" and {len(contents) - 5} more" if len(contents) > 5 else "")
        raise ConfigError(f"run folder {out} is not empty{_describe_run(out)}: {shown}. Pass --resume to continue "
                          f"that run, --overwrite to replace it, or another --output-dir (run.output_dir)")
    return None


def clear_run_dir(out: Path) -> None:
    """Delete what a previous run wrote (--overwrite); other files are left where they are."""
    for name in RUN_FILES:
        path = Path(out) / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


class _Preloaded:
    """task.load that returns the splits already loaded (and checked) here instead of reading them again."""

    def __init__(self, load, splits: dict):
        self.load, self.splits = load, splits

    def __call__(self, split: str) -> list:
        return self.splits[split] if split in self.splits else self.load(split)


def check_trackers(names) -> None:
    """Each run.report_to backend imports (without importing it): else a ConfigError naming its extra."""
    from zero_rl.trackers import missing_backends

    missing = missing_backends(names)
    if missing:
        raise ConfigError("run.report_to: " + "; ".join(missing))


def preflight(config: TrainConfig, overwrite: bool = False, world: int | None = None, warn=print) -> Prepared:
    """Every check that needs no model, cheapest first; raises ConfigError or DataError."""
    world = world or int(os.environ.get("WORLD_SIZE", "1"))
    check_world(config, world)
    checkpoint = check_run_dir(config, overwrite)
    check_model(config.model.name_or_path)
    try:  # the learned reward model term (zero_rl/reward_model.py), same rules
        check_model(config.reward_model.name_or_path)
    except ConfigError as error:
        raise ConfigError(str(error).replace("model.name_or_path", "reward_model.name_or_path", 1)) from None
    check_trackers(config.run.report_to)
    task = build_task(config)
    train, held_out = load_splits(task, config.task.eval_size, warn)
    task = dataclasses.replace(task, load=_Preloaded(task.load, {task.train_split: train, task.eval_split: held_out}))
    eval_examples = held_out[: config.task.eval_size] if config.task.eval_size else held_out
    return Prepared(task=task, train_examples=train, eval_examples=eval_examples, checkpoint=checkpoint,
                    overwrite=overwrite)
