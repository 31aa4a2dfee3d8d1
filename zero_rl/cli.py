"""`zero-rl train | eval | tasks`."""

import argparse
import inspect
import os
import sys
import textwrap


def _threads_default() -> None:
    # two OpenMP threads on a loaded 2-core machine make torch 10-80x slower (2.7x with one other job running),
    # so small machines get one thread unless the caller chose; must run before torch is imported
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if (os.cpu_count() or 1) <= SMALL_CPU_COUNT:
        os.environ.setdefault("OMP_NUM_THREADS", "1")


SMALL_CPU_COUNT = 4
"""Machines with at most this many cores default to one OpenMP thread."""

USER_ERRORS = (ValueError, KeyError, OSError)
"""What a wrong config, option, data file or path raises (ConfigError and DataError are ValueErrors)."""


def _fail(command: str, error: Exception) -> int:
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    print(f"zero-rl {command}: {message}", file=sys.stderr)
    return 2


def train_parser() -> argparse.ArgumentParser:
    from zero_rl.config import RunConfig, TaskConfig

    run, task = RunConfig(), TaskConfig()
    parser = argparse.ArgumentParser(
        prog="zero-rl train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="GRPO (default), PPO (algorithm.name=ppo) or online DPO (algorithm.name=online_dpo) on a task. "
                    "With no arguments: the embedded tiny base model on the arithmetic task.",
        epilog="overrides: section.field=value anywhere on the line, e.g. run.steps=50 algorithm.beta=0.01\n"
               "  generation.group_size=16 task.options.data=openai/gsm8k (a key inside task.options).\n"
               "  `zero-rl train --print-config` lists every field with its default and meaning;\n"
               "  `zero-rl tasks -v` lists each task's options.")
    parser.add_argument("--config", metavar="RECIPE",
                        help="YAML recipe (sections: model, task, generation, algorithm, optim, critic, run); "
                             "default: none")
    parser.add_argument("--model", help="hub name or local folder (default: the embedded base model)")
    parser.add_argument("--task", help=f"registered task name, see `zero-rl tasks` (default: {task.name})")
    parser.add_argument("--output-dir", help=f"run folder (default: {run.output_dir}); must be new or empty "
                                             f"unless --resume or --overwrite")
    parser.add_argument("--steps", type=int, help=f"training steps (default: {run.steps})")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in the run folder from its latest checkpoint (the config must match "
                             "it except steps, evaluation and logging)")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete what an earlier run wrote into the run folder, then start at step 0")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the before/after report (greedy, pre-filled control, sampled pass@k)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved config (recipe + overrides) with each field's meaning, and exit")
    parser.add_argument("--check", action="store_true",
                        help="run the checks that need no model (config, task, data, model path, process count, run "
                             "folder), say what was found, and exit (the launch scripts run this first)")
    parser.add_argument("overrides", nargs="*", metavar="section.field=value", help="config overrides")
    return parser


def train_main(argv: list) -> int:
    args = train_parser().parse_intermixed_args(argv)  # overrides may come before, between or after flags

    from zero_rl.config import describe, load_config

    overrides = list(args.overrides)
    for flag, key in ((args.model, "model.name_or_path"), (args.task, "task.name"),
                      (args.output_dir, "run.output_dir"), (args.steps, "run.steps")):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    if args.resume:
        overrides.append("run.resume=true")
    try:
        config = load_config(args.config, overrides)
        if args.print_config:
            print(describe(config))
            return 0
        from zero_rl.preflight import preflight

        prepared = preflight(config, overwrite=args.overwrite, warn=lambda line: print(line, file=sys.stderr))
    except USER_ERRORS as error:
        return _fail("train", error)
    if args.check:
        start = f"resume from {prepared.checkpoint}" if prepared.checkpoint else "start at step 0"
        print(f"zero-rl train: checks passed: task {prepared.task.name!r} ({len(prepared.train_examples)} training, "
              f"{len(prepared.eval_examples)} held-out examples), model {config.model.name_or_path or 'embedded'}, "
              f"{start} in {config.run.output_dir}")
        return 0

    from zero_rl.commands.train import run_training

    run_training(config, report=not args.no_report, prepared=prepared)
    return 0


def _task_options(build) -> list[str]:
    """'name=default' for each option of a task's build function."""
    options = []
    for parameter in inspect.signature(build).parameters.values():
        default = "(required)" if parameter.default is inspect.Parameter.empty else repr(parameter.default)
        options.append(f"{parameter.name}={default}")
    return options


def tasks_main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="zero-rl tasks", description="List the registered tasks.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also each task's options (task.options.NAME=value) with their defaults")
    args = parser.parse_args(argv)
    from zero_rl.tasks import TASKS

    for name, build in sorted(TASKS.items()):
        doc = (sys.modules[build.__module__].__doc__ or "").strip().splitlines()
        print(f"{name:16s} {doc[0] if doc else ''}")
        if args.verbose:
            print(textwrap.fill("options: " + ", ".join(_task_options(build)), width=110,
                                initial_indent=" " * 17, subsequent_indent=" " * 26))
            for line in inspect.cleandoc(build.__doc__ or "").splitlines():
                if line.strip():
                    print(" " * 17 + line)
    if args.verbose:
        from zero_rl.task_options import COMMON_OPTIONS

        print("every task also takes: " + ", ".join(f"{k}={v!r}" for k, v in COMMON_OPTIONS.items()) +
              " (zero_rl/task_options.py)")
    return 0


def eval_main(argv: list) -> int:
    from zero_rl import evaluate

    if not hasattr(evaluate, "cli_main"):
        print("zero-rl eval: not available in this build", file=sys.stderr)
        return 2
    return evaluate.cli_main(argv)


def report_main(argv: list) -> int:
    from zero_rl.commands.report import report_main as main

    return main(argv)


def export_main(argv: list) -> int:
    from zero_rl.commands.export import export_main as run

    return run(argv)


def train_rm_main(argv: list) -> int:
    from zero_rl.commands.train_rm import main

    return main(argv)


def dpo_main(argv: list) -> int:
    from zero_rl.commands.dpo import main

    return main(argv)


COMMANDS = {"train": train_main, "eval": eval_main, "tasks": tasks_main, "report": report_main,
            "export": export_main, "train-rm": train_rm_main, "dpo": dpo_main}


def main(argv: list | None = None) -> int:
    _threads_default()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"zero-rl: unknown command {argv[0]!r}", file=sys.stderr)
        print("usage: zero-rl {train,eval,tasks,report,export,train-rm,dpo} ...\n"
              "  train  GRPO or PPO training (no arguments: embedded tiny base model on arithmetic, on CPU)\n"
              "  eval   pass@k / maj@k / mean@k of a model on held-out sets\n"
              "  tasks  list registered tasks (-v: with their options)\n"
              "  report the training report of a run folder (report.html; --compare RUN_A RUN_B)\n"
              "  export a sharded (fsdp2 / LoRA) checkpoint -> a merged Hugging Face model folder\n"
              "  train-rm  train a reward model on preference pairs (Bradley-Terry)\n"
              "  dpo    offline DPO from a preference file\n"
              "`zero-rl <command> --help` for each command's flags and defaults.")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
