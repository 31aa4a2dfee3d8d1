"""Entry script for `accelerate launch launch/train.py [--config recipe.yaml] [section.field=value ...]`."""

import sys

from zero_rl.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
