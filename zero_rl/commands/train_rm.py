"""`zero-rl train-rm`: train a reward model (sequence classifier, one label) on preference pairs with the
Bradley-Terry loss, report held-out pairwise accuracy, and save it for `reward_model.name_or_path`."""

import argparse
import json
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zero-rl train-rm", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="preference pairs: JSONL (or a dataset folder / hub name) with "
                                                 "prompt, chosen, rejected strings")
    p.add_argument("--model", help="starting checkpoint: a causal LM (gets a fresh score head) or a reward model "
                                   "(default: the embedded base model)")
    p.add_argument("--output-dir", required=True, help="where the reward model and train_rm.json are written")
    p.add_argument("--epochs", type=int, default=1, help="passes over the training pairs (default: 1)")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default: 1e-4)")
    p.add_argument("--batch-size", type=int, default=16, help="pairs per optimizer step (default: 16)")
    p.add_argument("--eval-share", type=float, default=0.1, help="share of pairs held out (default: 0.1)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list) -> int:
    import sys

    from zero_rl.cli import USER_ERRORS, _fail

    args = parser().parse_args(argv)
    try:
        from zero_rl.dpo import load_preferences
        from zero_rl.reward_model import load_reward_model, split_pairs

        if args.epochs < 1 or args.batch_size < 1 or not 0 <= args.eval_share < 1:
            raise ValueError("--epochs and --batch-size must be >= 1 and --eval-share in [0, 1)")
        rows = load_preferences(args.data)
        train, held_out = split_pairs(rows, args.eval_share, args.seed)
        name = args.model
        if name is None:
            from zero_rl.embedded import embedded_base_model

            name = str(embedded_base_model(progress=False))
        model, tokenizer = load_reward_model(name)
    except USER_ERRORS as error:
        return _fail("train-rm", error)
    import torch

    from zero_rl.reward_model import train_reward_model

    torch.manual_seed(args.seed)
    print(f"zero-rl train-rm: {len(train)} training and {len(held_out)} held-out pairs, model {name}", file=sys.stderr)
    history = train_reward_model(model, tokenizer, train, held_out, epochs=args.epochs, lr=args.lr,
                                 batch_size=args.batch_size, seed=args.seed)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "train_rm.json").write_text(json.dumps({"data": args.data, "model": name, "history": history,
                                                   "train_pairs": len(train), "held_out_pairs": len(held_out)},
                                                  indent=2))
    last = history[-1]
    print(f"held-out pairwise accuracy {last.get('eval/accuracy', float('nan')):.3f} ({len(held_out)} pairs); "
          f"saved to {out}")
    return 0
