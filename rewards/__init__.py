"""Verifiers: each reward scores one completion, `(completion: str, example: dict) -> float`, pure, no I/O."""

if __name__ != "zero_rl.rewards":  # e.g. `import rewards.x` run with the repository root on sys.path
    raise ImportError(f"rewards/ is installed as zero_rl.rewards: import zero_rl.rewards.<module>, not "
                      f"{__name__}.<module> (a second copy of each module, with its own caches; "
                      "reward workers would import and warm it up again)")
