"""What a user types: `zero-rl train` (commands/train.py); argument parsing lives in zero_rl/cli.py."""
