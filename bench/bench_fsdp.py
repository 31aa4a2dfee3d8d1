"""Memory per rank, DDP vs FSDP2, at growing model sizes; and the trainer side of the weight sync from shards.

    python bench/bench_fsdp.py [--sizes 5m 20m 80m] [--procs 2]

For each size and strategy, one `torchrun --nproc-per-node 2` launch (gloo on CPU, or NCCL on GPUs) builds a
random Qwen2-style model, takes 2 AdamW steps on a 4 x 64-token batch and reports, per rank:
- held MB: parameters + gradients + AdamW state this rank holds (local shards under fsdp2), counted tensor by
  tensor: the number FSDP2 is meant to divide by the world size;
- peak RSS MB (CPU) / peak CUDA MB (GPU): the whole process, including the model's construction, activations,
  gathered layers and the interpreter (~350 MB of imports on CPU);
- sync s: one pass of zero_rl.distributed.hf_weight_items (what the vLLM sync streams) at 1 MB and 64 MB buckets:
  under fsdp2 the all-gathers of the shards; under DDP only the iteration (weights are already full). vLLM's own
  load time is not included (it is the same for both strategies).
Ratios FSDP2 / DDP are printed from the same run. Numbers on a shared CPU vary from run to run; the held-MB ratio
does not.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {  # name: (vocab, hidden, intermediate, layers, heads, kv_heads)
    "5m": (8192, 256, 1024, 4, 4, 2),
    "20m": (8192, 512, 2048, 4, 8, 2),
    "80m": (16384, 768, 3072, 8, 12, 4),
    "0.5b": (151936, 896, 4864, 24, 14, 2),  # Qwen2.5-0.5B's shape
}


def build(size: str):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    vocab, hidden, inter, layers, heads, kv = SIZES[size]
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=512,
                         tie_word_embeddings=True)
    return Qwen2ForCausalLM(config)


def worker(args) -> None:
    import torch
    import torch.distributed as dist

    from zero_rl.config import DistributedConfig
    from zero_rl.distributed import held_bytes, hf_weight_items, peak_memory_mb, shard_model

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    model = build(args.size)
    n_params = sum(p.numel() for p in model.parameters())
    if args.strategy == "fsdp2":
        shard_model(model, DistributedConfig(strategy="fsdp2"), device)
        trained = model
    else:
        model.to(device)
        trained = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, SIZES[args.size][0], (4, 64), generator=torch.Generator().manual_seed(rank)).to(device)
    for _ in range(2):
        loss = trained(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        held = held_bytes(model, optimizer)
        optimizer.zero_grad(set_to_none=False)  # keep the gradients allocated: they count
    syncs = {}
    for bucket in (1, 64):
        started = time.perf_counter()
        total = sum(t.numel() for _, t in hf_weight_items(model, bucket, tag=f"bench {bucket}"))
        syncs[bucket] = time.perf_counter() - started
        assert total >= n_params - 1, (total, n_params)
    result = {"rank": rank, "params": n_params, "held_mb": sum(held.values()) / 2 ** 20,
              **{k: v for k, v in peak_memory_mb().items()}, "sync_1mb_s": syncs[1], "sync_64mb_s": syncs[64]}
    if args.vllm:  # the whole sync into a colocated engine (gather + vLLM's reload), then the sync check
        from zero_rl.config import GenerationConfig
        from zero_rl.embedded import build_tiny_random
        from zero_rl.generation.vllm import VLLMGenerator

        _, tokenizer = build_tiny_random(seed=0)  # token ids < 400 fit every size's vocabulary
        generator = VLLMGenerator(model, tokenizer, GenerationConfig(), log=lambda line: None)
        for bucket in (1, 64):
            generator.config.sync_bucket_mb = bucket
            times = []
            for _ in range(3):
                started = time.perf_counter()
                generator.sync_weights(model)
                times.append(time.perf_counter() - started)
            result[f"vllm_sync_{bucket}mb_s"] = min(times)
        result["sync_check_logp_max"] = generator.check_sync(model)["sync/logp_abs_max"]
        result["vllm_peak_rss_mb"] = peak_memory_mb()["memory/peak_rss_mb"]
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, result)
    if rank == 0:
        Path(args.out).write_text(json.dumps(everyone))
    if args.vllm:
        sys.stdout.flush()
        os._exit(0)  # vLLM's teardown ends the process group itself
    dist.destroy_process_group()


def launch(size: str, strategy: str, procs: int, vllm: bool = False) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs), "--master-port",
                   str(29600 + hash((size, strategy)) % 300), __file__, "--worker", "--size", size, "--strategy",
                   strategy, "--out", str(out)] + (["--vllm"] if vllm else [])
        run = subprocess.run(command, env=env, capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(f"{size} {strategy} failed:\n{run.stderr[-3000:]}")
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["5m", "20m", "80m"], choices=list(SIZES))
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--vllm", action="store_true", help="also time the whole sync into a colocated vLLM "
                        "engine per rank (vLLM's CPU attention needs head size 32/64/...: all SIZES have 64)")
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--size")
    parser.add_argument("--strategy")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    peak = "peak_cuda_mb" if "CUDA_VISIBLE_DEVICES" in os.environ else "memory/peak_rss_mb"
    print(f"{args.procs} processes; per rank (max over ranks). held = params + grads + AdamW state held locally")
    print(f"{'size':>6} {'params':>11} | {'held MB ddp':>11} {'fsdp2':>8} {'ratio':>6} | {'peak MB ddp':>11} "
          f"{'fsdp2':>8} {'ratio':>6} | {'sync s 1MB ddp':>14} {'fsdp2':>7} | {'sync s 64MB fsdp2':>17}")
    vllm_rows = []
    for size in args.sizes:
        rows = {s: launch(size, s, args.procs, args.vllm) for s in ("ddp", "fsdp2")}
        if args.vllm:
            vllm_rows.append((size, rows))
        held = {s: max(r["held_mb"] for r in rows[s]) for s in rows}
        key = peak if peak in rows["ddp"][0] else "memory/peak_rss_mb"
        rss = {s: max(r[key] for r in rows[s]) for s in rows}
        sync1 = {s: max(r["sync_1mb_s"] for r in rows[s]) for s in rows}
        sync64 = max(r["sync_64mb_s"] for r in rows["fsdp2"])
        print(f"{size:>6} {rows['ddp'][0]['params']:>11,} | {held['ddp']:>11.1f} {held['fsdp2']:>8.1f} "
              f"{held['fsdp2'] / held['ddp']:>6.2f} | {rss['ddp']:>11.0f} {rss['fsdp2']:>8.0f} "
              f"{rss['fsdp2'] / rss['ddp']:>6.2f} | {sync1['ddp']:>14.3f} {sync1['fsdp2']:>7.3f} | {sync64:>17.3f}",
              flush=True)
    if vllm_rows:
        print("\nwhole sync into the colocated vLLM engines (gather + reload_weights + prefix-cache reset), best of 3, "
              "max over ranks; then the sync check")
        print(f"{'size':>6} | {'ddp 1MB s':>9} {'64MB':>6} | {'fsdp2 1MB s':>11} {'64MB':>6} | {'fsdp2/ddp (64MB)':>16} | "
              f"{'check logp max':>14} | {'peak RSS MB ddp':>15} {'fsdp2':>6}")
        for size, rows in vllm_rows:
            t = {(s, b): max(r[f"vllm_sync_{b}mb_s"] for r in rows[s]) for s in rows for b in (1, 64)}
            check = max(r["sync_check_logp_max"] for s in rows for r in rows[s])
            rss = {s: max(r["vllm_peak_rss_mb"] for r in rows[s]) for s in rows}
            print(f"{size:>6} | {t['ddp', 1]:>9.3f} {t['ddp', 64]:>6.3f} | {t['fsdp2', 1]:>11.3f} {t['fsdp2', 64]:>6.3f} | "
                  f"{t['fsdp2', 64] / t['ddp', 64]:>16.2f} | {check:>14.2e} | {rss['ddp']:>15.0f} {rss['fsdp2']:>6.0f}")


if __name__ == "__main__":
    main()
