"""`zero-rl train | eval | tasks`."""

import argparse
import os
import sys


def _threads_default() -> None:
    # two OpenMP threads on a loaded 2-core machine make torch 10-80x slower; callers can still override
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def train_main(argv: list) -> int:
    parser = argparse.ArgumentParser(
        prog="zero-rl train",
        description="GRPO (default) or PPO (algorithm.name=ppo) on a task. With no arguments: the embedded tiny "
                    "base model on the arithmetic task.",
        epilog="Overrides: section.field=value, e.g. run.steps=50 algorithm.beta=0.01 generation.group_size=16")
    parser.add_argument("--config",
                        help="YAML recipe (sections: model, task, generation, algorithm, optim, critic, run)")
    parser.add_argument("--model", help="hub name or local folder (default: the embedded base model)")
    parser.add_argument("--task", help="registered task name (see `zero-rl tasks`)")
    parser.add_argument("--output-dir", help="run directory")
    parser.add_argument("--steps", type=int, help="training steps")
    parser.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in the run dir")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the before/after report (greedy, pre-filled control, sampled pass@k)")
    parser.add_argument("overrides", nargs="*", help="section.field=value")
    args = parser.parse_args(argv)

    from zero_rl.config import ConfigError, load_config

    overrides = list(args.overrides)
    for flag, key in ((args.model, "model.name_or_path"), (args.task, "task.name"),
                      (args.output_dir, "run.output_dir"), (args.steps, "run.steps")):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    if args.resume:
        overrides.append("run.resume=true")
    try:
        config = load_config(args.config, overrides)
    except (ConfigError, OSError) as error:
        print(f"zero-rl train: {error}", file=sys.stderr)
        return 2

    from zero_rl.quickstart import run_training

    run_training(config, report=not args.no_report)
    return 0


def tasks_main(argv: list) -> int:
    from tasks import TASKS

    for name, build in sorted(TASKS.items()):
        doc = (sys.modules[build.__module__].__doc__ or "").strip().splitlines()
        print(f"{name:16s} {doc[0] if doc else ''}")
    return 0


def eval_main(argv: list) -> int:
    from zero_rl import evaluate

    if not hasattr(evaluate, "cli_main"):
        print("zero-rl eval: not available in this build", file=sys.stderr)
        return 2
    return evaluate.cli_main(argv)


COMMANDS = {"train": train_main, "eval": eval_main, "tasks": tasks_main}


def main(argv: list | None = None) -> int:
    _threads_default()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"zero-rl: unknown command {argv[0]!r}", file=sys.stderr)
        print("usage: zero-rl {train,eval,tasks} ...\n"
              "  train  GRPO or PPO training (no arguments: embedded tiny base model on arithmetic, on CPU)\n"
              "  eval   pass@k / maj@k / mean@k of a model on held-out sets\n"
              "  tasks  list registered tasks")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
