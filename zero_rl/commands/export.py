"""`zero-rl export CHECKPOINT OUT [--base PATH]`: a merged Hugging Face model folder (safetensors, config,
tokenizer; loadable with from_pretrained and by vLLM) from a sharded checkpoint of an fsdp2 or LoRA run."""

import argparse
import sys


def export_main(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="zero-rl export", description=__doc__)
    parser.add_argument("checkpoint", help="a checkpoint folder, e.g. runs/latest/checkpoints/step-000060")
    parser.add_argument("out", help="output folder for the Hugging Face model")
    parser.add_argument("--base", default=None, help="LoRA runs: the base model folder (default: the one recorded "
                                                     "in the checkpoint)")
    args = parser.parse_args(argv)
    from zero_rl.sharded_checkpoint import export_checkpoint

    try:
        out = export_checkpoint(args.checkpoint, args.out, base=args.base)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"zero-rl export: {error}", file=sys.stderr)
        return 2
    print(f"exported {args.checkpoint} -> {out}")
    return 0
