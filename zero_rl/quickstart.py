"""`zero-rl train` as a user sees it: load, report the base model, train, report again, print a comparison."""

import json
import time
from pathlib import Path

from zero_rl.config import TrainConfig


def held_out_report(model, tokenizer, task, examples, config: TrainConfig, include_control: bool) -> dict:
    """Greedy accuracy/format, optionally the pre-filled `<think>` control, and sampled pass@1 / pass@G."""
    from zero_rl.evaluate import greedy_eval, sample_eval
    from zero_rl.generation import SamplingParams
    from zero_rl.generation.hf import HFGenerator

    generator = HFGenerator(model, tokenizer)
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


def run_training(config: TrainConfig, report: bool = True) -> dict:
    from accelerate import Accelerator

    from tasks import get_task
    from zero_rl.trainer import train
    from zero_rl.models import load_model_and_tokenizer

    from zero_rl.precision import training_mixed_precision

    accelerator = Accelerator(mixed_precision=training_mixed_precision(config.model.dtype))
    is_main = accelerator.is_main_process
    started = time.time()
    model, tokenizer = load_model_and_tokenizer(config.model.name_or_path, progress=config.run.progress and is_main,
                                                log=print if is_main else (lambda *_: None))
    task = get_task(config.task.name, **config.task.options)
    examples = task.load(task.eval_split)
    examples = examples[: config.task.eval_size] if config.task.eval_size else examples
    do_report = report and is_main and not config.run.resume
    before = held_out_report(model, tokenizer, task, examples, config, include_control=True) if do_report else None
    result = train(config, model=model, tokenizer=tokenizer, task=task, accelerator=accelerator)
    if do_report:
        after = held_out_report(result["model"], tokenizer, task, examples, config, include_control=False)
        print_comparison(before, after)
        path = Path(config.run.output_dir) / "report.json"
        path.write_text(json.dumps({"before": before, "after": after, "wall_s": time.time() - started}, indent=2))
        from zero_rl.precision import cpu_description

        print(f"\nreport: {path}   checkpoints: {Path(config.run.output_dir) / 'checkpoints'}   "
              f"total time {time.time() - started:.0f} s (CPU {cpu_description()}, "
              f"{__import__('torch').get_num_threads()} threads)")
        result.update(report_before=before, report_after=after)
    # end the process group together: a rank that exits alone gets the others killed mid-teardown
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return result
