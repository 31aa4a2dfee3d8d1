"""`zero-rl train` as a user sees it: load, report the base model, train, report again, print a comparison."""

import json
import time
from pathlib import Path

from zero_rl.config import TrainConfig


def held_out_report(generator, tokenizer, task, examples, config: TrainConfig, include_control: bool) -> dict:
    """Greedy accuracy/format, optionally the pre-filled `<think>` control, and sampled pass@1 / pass@G, with
    `generator` (the run's own where it can generate alone on this rank)."""
    from zero_rl.evaluate import greedy_eval, sample_eval
    from zero_rl.generation import SamplingParams

    max_new = config.generation.max_new_tokens
    report = {"greedy": greedy_eval(generator, tokenizer, task, examples, max_new)}
    if include_control:
        report["control_think_prefilled"] = greedy_eval(generator, tokenizer, task, examples, max_new,
                                                        prompt_suffix=" <think>")
    n = config.generation.group_size
    ks = sorted({1, n})
    params = SamplingParams(n=n, temperature=config.generation.temperature, top_p=config.generation.top_p,
                            max_new_tokens=max_new, seed=config.run.seed + 7)
    report["sampled"] = sample_eval(generator, tokenizer, task, examples, n=n, ks=ks, params=params)
    if include_control:
        report["control_sampled"] = sample_eval(generator, tokenizer, task, examples, n=n, ks=ks, params=params,
                                                prompt_suffix=" <think>")
    return report


def _row(name: str, before, after) -> str:
    def cell(value):
        return f"{100 * value:6.1f} %" if isinstance(value, float) else f"{'-':>8s}"

    return f"  {name:42s} {cell(before)}  {cell(after)}"


def print_comparison(before: dict, after: dict, print_fn=print) -> None:
    n = before["greedy"]["n"]
    print_fn(f"\n  {f'held-out, {n} problems':42s}   before     after")
    print_fn(_row("greedy, strict (format + answer)", before["greedy"]["accuracy"], after["greedy"]["accuracy"]))
    print_fn(_row("greedy format rate", before["greedy"].get("format"), after["greedy"].get("format")))
    for key in sorted(k for k in before["sampled"] if k.startswith("pass@")):
        print_fn(_row(f"sampled {key}", before["sampled"][key], after["sampled"].get(key)))
    if "control_think_prefilled" in before:
        print_fn(_row("control: base, <think> pre-filled, greedy", before["control_think_prefilled"]["accuracy"], None))
        print_fn(_row("control: base, <think> pre-filled, pass@1",
                      before["control_sampled"]["pass@1"], None))


def _before_report(generator, tokenizer, task, examples, config: TrainConfig) -> dict:
    """The base model's report; a resumed run reuses the one its first start saved (report_before.json)."""
    path = Path(config.run.output_dir) / "report_before.json"
    if config.run.resume and path.exists():
        return json.loads(path.read_text())
    before = held_out_report(generator, tokenizer, task, examples, config, include_control=True)
    path.write_text(json.dumps(before, indent=2))
    return before


def write_run_report(out: Path) -> Path | None:
    """The training report (report.html); a failure here is printed, not raised: the run itself is done."""
    from zero_rl.run_report import report_run

    try:
        path = report_run(out)
    except Exception as error:  # noqa: BLE001
        print(f"training report: could not write {out / 'report.html'}: {type(error).__name__}: {error}; "
              f"retry with `zero-rl report {out}`")
        return None
    print(f"training report: {path}")
    return path


def run_training(config: TrainConfig, report: bool = True, overwrite: bool = False, prepared=None) -> dict:
    """`prepared`: what `preflight` checked (task, splits, checkpoint); checked here when not given."""
    from accelerate import Accelerator

    from zero_rl.generation import build_generator
    from zero_rl.generation.hf import HFGenerator
    from zero_rl.models import load_model_and_tokenizer
    from zero_rl.precision import training_mixed_precision
    from zero_rl.preflight import clear_run_dir, preflight
    from zero_rl.trainer import train

    prepared = prepared or preflight(config, overwrite)  # before anything loads: a user error costs seconds
    from zero_rl.distributed import process_group_timeout

    accelerator = Accelerator(mixed_precision=training_mixed_precision(config.model.dtype),
                              kwargs_handlers=[process_group_timeout(config.distributed)])
    is_main = accelerator.is_main_process
    started = time.time()
    out = Path(config.run.output_dir)
    if is_main:  # every rank has passed its checks (the process group is up): now the folder may change
        if prepared.overwrite:
            clear_run_dir(out)
        out.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    model, tokenizer = load_model_and_tokenizer(config.model.name_or_path, progress=config.run.progress and is_main,
                                                log=print if is_main else (lambda *_: None))
    task, examples = prepared.task, prepared.eval_examples
    do_report = report and is_main
    say = print if is_main else (lambda *_: None)
    generator = build_generator(config.generation.backend, model, tokenizer, config.generation, say)
    # The report runs on the main rank alone: with several processes a vLLM engine takes part in collectives
    # with the other ranks' engines, so there the report samples with transformers (and says so).
    alone = accelerator.num_processes == 1 or generator.name == "hf"
    report_generator = generator if alone else HFGenerator(model, tokenizer)
    if do_report and not alone:
        say(f"report: {accelerator.num_processes} processes, so the before/after report samples with transformers "
            f"on the main rank (training samples with {generator.name})")
    before = _before_report(report_generator, tokenizer, task, examples, config) if do_report else None
    try:
        result = train(config, model=model, tokenizer=tokenizer, task=task, generator=generator,
                       accelerator=accelerator)
    except BaseException:  # flush what the trackers hold and mark their runs failed, then let the error through
        from zero_rl.trackers import close_all

        close_all(failed=True)
        raise
    # fsdp2: the policy is now sharded and each of its forwards is a collective, so every rank generates the
    # after-report in step (same prompts, same seeds); the main rank prints and writes it
    in_step = report and config.distributed.strategy == "fsdp2" and accelerator.num_processes > 1
    if do_report or in_step:
        after = held_out_report(report_generator, tokenizer, task, examples, config, include_control=False)
    if do_report:
        print_comparison(before, after)
        path = out / "report.json"
        path.write_text(json.dumps({"before": before, "after": after, "wall_s": time.time() - started,
                                    "generator": report_generator.name}, indent=2))
        import torch

        from zero_rl.precision import cpu_description

        print(f"\nreport: {path}   checkpoints: {out / 'checkpoints'}   total time {time.time() - started:.0f} s "
              f"(CPU {cpu_description()}, {torch.get_num_threads()} threads)")
        result.update(report_before=before, report_after=after)
    if is_main:
        write_run_report(out)
    # end the process group together: a rank that exits alone gets the others killed mid-teardown
    accelerator.wait_for_everyone()
    close = getattr(result.get("generator"), "close", None)
    if close is not None:  # vLLM's teardown ends process groups: after the last collective, before end_training
        close()
    accelerator.end_training()
    return result
