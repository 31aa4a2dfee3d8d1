"""Run under 2 processes by tests/test_vllm.py: each rank wraps the same tiny model in gloo DDP, keeps a vLLM
engine (external_launcher; argv[2] is the tensor-parallel size: 1 = an engine per rank, 2 = one engine over both
ranks), takes SGD steps on its own data, syncs, and compares the engine with the trained model after each step.
Writes rank{N}.pt with what it saw."""

import sys
from pathlib import Path

import torch
from accelerate import Accelerator

from zero_rl.config import GenerationConfig
from zero_rl.embedded import build_tiny_random
from zero_rl.generation import SamplingParams
from zero_rl.generation.vllm import VLLMGenerator

out = Path(sys.argv[1])
tensor_parallel = int(sys.argv[2]) if len(sys.argv) > 2 else 1
accelerator = Accelerator()
rank = accelerator.process_index
model, tokenizer = build_tiny_random(hidden_size=128, seed=5)
generator = VLLMGenerator(model, tokenizer, GenerationConfig(tensor_parallel_size=tensor_parallel),
                          log=lambda line: print(f"rank {rank}: {line}", flush=True))
ddp_model, optimizer = accelerator.prepare(model, torch.optim.SGD(model.parameters(), lr=0.5))
policy = accelerator.unwrap_model(ddp_model)

texts = ["Question: 5 + 6 = ? <think> 5 + 6 = 11 </think> <answer> 11 </answer>",
         "Question: 9 - 2 = ? <think> 9 - 2 = 7 </think> <answer> 7 </answer>"]
data = torch.tensor([tokenizer(texts[rank], add_special_tokens=False)["input_ids"]])
prompt = tokenizer(["Question: 3 + 4 = ?", "Question: 12 - 5 = ?"][rank], add_special_tokens=False)["input_ids"]
steps, losses, checksums = [], [], []
for step in range(1, 4):
    loss = ddp_model(input_ids=data, labels=data).loss
    optimizer.zero_grad()
    accelerator.backward(loss)
    optimizer.step()
    generator.sync_weights(policy)

    if rank == 0 and tensor_parallel == 1:  # independent engines: one rank may generate more, without a hang
        generator.generate([prompt] * 3, SamplingParams(n=4, max_new_tokens=30, seed=step))
    sync = generator.check_sync(policy)
    completion = generator.generate([prompt], SamplingParams(n=1, temperature=0.0, max_new_tokens=12))[0]
    with torch.no_grad():
        hf = policy.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             do_sample=False, max_new_tokens=12, pad_token_id=tokenizer.pad_token_id)
    hf_tokens = hf[0, len(prompt):].tolist()
    steps.append({"step": step, "tokens_equal": completion.token_ids == hf_tokens[: len(completion.token_ids)],
                  "logp_abs_max": sync["sync/logp_abs_max"]})
    losses.append(float(loss))
    checksums.append(float(sum(p.double().sum() for p in policy.parameters())))
    print(f"rank {rank} step {step}: loss {float(loss):.4f} {steps[-1]}", flush=True)

torch.save({"world": accelerator.num_processes, "distributed_type": str(accelerator.distributed_type),
            "steps": steps, "losses": losses, "checksums": checksums}, out / f"rank{rank}.pt")
