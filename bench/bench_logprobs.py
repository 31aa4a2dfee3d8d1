"""Peak memory of the log-prob + entropy pass (forward and backward) over a real vocabulary: the row-chunked
computation in zero_rl/batch.py against the whole-tensor one it replaced, each in a fresh process.

    OMP_NUM_THREADS=1 python bench/bench_logprobs.py [--vocab 151936] [--tokens 8192] [--dtype bfloat16]

The logits [tokens, vocab] stand for the model's output (bf16, as a bf16 model on a GPU gives them) and need
a gradient. "whole" is the previous code: logits.float(), logsumexp, gather, softmax and (probs * logits) over
the whole tensor, then backward. "chunked" is `token_logprobs` + `token_entropy`. Printed: the memory each
pass needs on top of the logits (peak RSS minus RSS with the logits allocated), its time, the ratio, and the
largest difference between the two results.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def whole(logits_NV, targets_N):
    import torch

    logits = logits_NV.float()
    log_norm_N = torch.logsumexp(logits, dim=-1)
    logp_N = logits.gather(-1, targets_N.unsqueeze(-1)).squeeze(-1) - log_norm_N
    with torch.no_grad():
        probs = torch.softmax(logits, dim=-1)
        entropy_N = log_norm_N - (probs * logits).sum(-1)
    return logp_N, entropy_N


def chunked(logits_NV, targets_N):
    from zero_rl.batch import token_entropy, token_logprobs

    return token_logprobs(logits_NV, targets_N), token_entropy(logits_NV.detach())


def child(args) -> None:
    import torch

    generator = torch.Generator().manual_seed(0)
    dtype = getattr(torch, args.dtype)
    logits_NV = torch.randn(args.tokens, args.vocab, generator=generator, dtype=dtype).requires_grad_()
    targets_N = torch.randint(0, args.vocab, (args.tokens,), generator=generator)
    weights_N = torch.randn(args.tokens, generator=generator)
    import gc

    gc.collect()
    base = rss_mb()
    if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 > base + 64:
        raise SystemExit("set-up left a higher peak than the logits: the measurement would be capped")
    started = time.perf_counter()
    logp_N, entropy_N = (whole if args.role == "whole" else chunked)(logits_NV, targets_N)
    (logp_N * weights_N).sum().backward()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the logits' gradient is the same size as the logits in both methods; it is part of the pass
    print("RESULT " + json.dumps({"extra_mb": peak - base,
                                  "seconds": seconds, "logp": logp_N[:64].tolist(), "entropy": entropy_N[:64].tolist(),
                                  "grad_sum": float(logits_NV.grad.float().abs().sum())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--tokens", type=int, default=8192, help="B x T rows of logits (8 x 1024 by default)")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--role", choices=["whole", "chunked"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        return child(args)
    results = {}
    for role in ("chunked", "whole"):
        command = [sys.executable, __file__, "--role", role, "--vocab", str(args.vocab), "--tokens", str(args.tokens),
                   "--dtype", args.dtype]
        done = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            raise SystemExit(f"{role} failed (exit {done.returncode}): {done.stderr[-2000:]}")
        results[role] = json.loads(lines[-1][len("RESULT "):])
    logits_mb = args.tokens * args.vocab * (2 if args.dtype == "bfloat16" else 4) / 2**20
    print(f"log-prob + entropy pass, forward and backward: {args.tokens} tokens x V={args.vocab}, {args.dtype} logits "
          f"({logits_mb:.0f} MB)")
    for role, r in results.items():
        print(f"  {role:8s} extra memory {r['extra_mb']:8.0f} MB   {r['seconds']:6.2f} s")
    w, c = results["whole"], results["chunked"]
    diff = max(abs(a - b) for a, b in zip(w["logp"] + w["entropy"], c["logp"] + c["entropy"]))
    print(f"  whole / chunked memory: {w['extra_mb'] / max(c['extra_mb'], 1):.1f}x less; time ratio "
          f"{c['seconds'] / w['seconds']:.2f}; max |difference| {diff:.2e}; |grad| sums {w['grad_sum']:.6g} vs "
          f"{c['grad_sum']:.6g}")


if __name__ == "__main__":
    main()
