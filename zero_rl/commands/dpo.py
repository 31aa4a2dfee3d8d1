"""`zero-rl dpo`: offline DPO from a preference file (prompt, chosen, rejected), through the same loss and update
as online DPO (`algorithm.name=online_dpo`); reports the held-out implicit-reward margin and accuracy."""

import argparse
import json
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zero-rl dpo", description=__doc__.splitlines()[0],
                                epilog="overrides: section.field=value, e.g. algorithm.dpo_beta=0.1 "
                                       "algorithm.dpo_loss=ipo run.steps=200 run.prompts_per_step=16 optim.lr=1e-6")
    p.add_argument("--data", required=True, help="JSONL (or dataset folder / hub name) with prompt, chosen, rejected")
    p.add_argument("--model", help="policy to start from (default: the embedded base model); also the reference")
    p.add_argument("--output-dir", required=True, help="where the model and dpo.jsonl are written")
    p.add_argument("--eval-share", type=float, default=0.1, help="share of pairs held out (default: 0.1)")
    p.add_argument("overrides", nargs="*", metavar="section.field=value")
    return p


def main(argv: list) -> int:
    from zero_rl.cli import USER_ERRORS, _fail

    args = parser().parse_intermixed_args(argv)
    try:
        from zero_rl.config import build_config
        from zero_rl.dpo import load_preferences
        from zero_rl.reward_model import split_pairs

        config = build_config({}, ["algorithm.name=online_dpo", f"run.output_dir={args.output_dir}",
                                   *args.overrides])
        rows = load_preferences(args.data)
        train, held_out = split_pairs(rows, args.eval_share, config.run.seed)
        from zero_rl.models import load_model_and_tokenizer

        if args.model is None:
            from zero_rl.embedded import embedded_base_model

            args.model = str(embedded_base_model(progress=False))
        model, tokenizer = load_model_and_tokenizer(args.model)
    except USER_ERRORS as error:
        return _fail("dpo", error)
    import torch

    from zero_rl.dpo import train_offline_dpo

    torch.manual_seed(config.run.seed)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "dpo.jsonl", "w") as log:
        def write(line):
            log.write(line + "\n")
            print(line)

        history = train_offline_dpo(model, tokenizer, train, config, eval_rows=held_out, log=write)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    last = history[-1]
    print(f"held-out: implicit-reward margin {last.get('eval/margin', float('nan')):.3f}, accuracy "
          f"{last.get('eval/accuracy', float('nan')):.3f} ({len(held_out)} pairs); saved to {out}")
    return 0
