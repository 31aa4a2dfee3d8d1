"""How the policy, reference and critic are held across processes, and how their full weights are streamed out.

`distributed.strategy: ddp` (every rank holds full weights; update.py all-reduces gradients) or `fsdp2`: torch's
`fully_shard` applied to each decoder layer and then to the root, the way verl does it. Parameters become
DTensors sharded on dim 0; forward/backward gather one layer at a time; gradients are reduce-scattered (averaged)
by FSDP itself, so the manual all-reduce is skipped; AdamW state lives on the shards. We apply `fully_shard`
ourselves because accelerate's FSDP2 plugin silently falls back to DDP on CPU (MULTI_CPU): the same code path
runs in CPU CI (gloo) and on GPUs (NCCL).

Every forward of a sharded module is a collective (it all-gathers the layer's weights), so all ranks must run
the same number of forwards and backwards: `padded_to_all_ranks` pads a rank's micro-batch list with `None`
(a forward whose result is discarded / a backward of zero), and the transformers generator keeps stepping until
every rank is done (`all_ranks_true`). A rank that still misses a collective fails after
`distributed.timeout_s` (the process-group timeout) instead of hanging, and the weight sync compares a
fingerprint of what each rank is about to gather before gathering it (`check_same_sequence`).
"""

import hashlib
import math
import resource
import sys
from contextlib import nullcontext

import torch
import torch.distributed as dist
from torch import nn

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class CollectiveMismatchError(RuntimeError):
    """Ranks disagreed on a sequence of collectives (a sync skipped, reordered or over other weights)."""


# ---------------------------------------------------------------- what is sharded


def is_sharded(model) -> bool:
    """True when fully_shard was applied to `model` (its parameters are DTensors, except while a forward that no
    backward followed keeps them gathered: reshard_after_forward=false, or the root)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(getattr(model, "peft_model", model), FSDPModule)


def reshard_all(model) -> None:
    """Free every gathered layer of a sharded `model` (parameters back to their DTensor shards)."""
    from torch.distributed.fsdp import FSDPModule

    for module in getattr(model, "peft_model", model).modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def decoder_layers(model) -> list:
    """The decoder layers of a causal LM, a value model (its backbone) or a peft-wrapped one: the units sharded
    one by one. Found as the first ModuleList named `layers` / `h` (transformers' naming)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layers", "h") and len(module):
            return list(module)
    raise ValueError(f"distributed.strategy=fsdp2: no decoder layers (a ModuleList named 'layers' or 'h') in "
                     f"{type(model).__name__}; fsdp2 shards transformers causal LMs per decoder layer")


def shard_model(model, config, device: torch.device | None = None):
    """Apply `fully_shard` to each decoder layer, then to the root (embeddings, final norm, head; tied weights
    stay tied). `config` is a DistributedConfig. Returns the same module, now an FSDPModule."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, fully_shard

    device = device or (torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available()
                        else torch.device("cpu"))
    if not (dist.is_available() and dist.is_initialized()):
        import os

        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise RuntimeError("distributed.strategy=fsdp2: WORLD_SIZE > 1 but no process group was started; "
                               "launch with accelerate launch or torchrun (launch/cpu_fsdp.sh, launch/multinode.sh)")
        # one process (FSDP2 for its CPU offload / mixed precision, or a GPU check): a group of one
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=0, world_size=1,
                                init_method=f"tcp://127.0.0.1:{_free_port()}")
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    options = {"mesh": mesh, "reshard_after_forward": config.reshard_after_forward,
               "mp_policy": MixedPrecisionPolicy(param_dtype=DTYPES[config.param_dtype],
                                                 reduce_dtype=DTYPES[config.reduce_dtype])}
    if config.cpu_offload:
        # (pinned host memory needs an accelerator: on a CPU-only run the shards are in host memory anyway)
        options["offload_policy"] = CPUOffloadPolicy(pin_memory=device.type == "cuda")
    elif device.type != "cpu":
        model.to(device)
    for layer in decoder_layers(model):
        fully_shard(layer, **options)
    fully_shard(model, **options)
    return model


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- equal work on every rank


def _comm_device(default, group=None) -> torch.device:
    """Where a collective's buffer must live: NCCL takes only CUDA tensors (CPU-offloaded shards included)."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(default)


def _all_reduce_scalar(value: float, op) -> float:
    device = _comm_device("cpu")
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=op)
    return float(tensor.item())


def all_ranks_true(flag: bool) -> bool:
    """`flag` on every rank (a collective)."""
    if world_size() == 1:
        return bool(flag)
    return _all_reduce_scalar(float(bool(flag)), dist.ReduceOp.MIN) > 0


def padded_to_all_ranks(items: list, model) -> list:
    """`items` + None up to the longest list on any rank, when `model` is sharded (each forward is a collective
    every rank must join); `items` unchanged otherwise."""
    if not is_sharded(model) or world_size() == 1:
        return list(items)
    longest = int(_all_reduce_scalar(len(items), dist.ReduceOp.MAX))
    return list(items) + [None] * (longest - len(items))


def padding_rows(batch) -> torch.Tensor:
    """The rows of a padding pass: the first prompt's rows, so that the pass can share its prompt as real ones do."""
    return (batch.prompt_index_B == batch.prompt_index_B[0]).nonzero().squeeze(1)


def agreed_share_prompts(batch, share: bool, model) -> bool:
    """The shared-prompt forward (zero_rl/batch.py) runs 2 forwards (prompt, then completions on its cache) where
    a batch repeats prompts and has completions longer than 1 token, else 1. Under fsdp2 each forward is a
    collective, so the ranks agree: share only where every rank's batch can."""
    if not share or not is_sharded(model) or world_size() == 1:
        return share
    work = batch.trimmed()
    mine = len(torch.unique(work.prompt_index_B)) < len(work) and work.prompt_width > 0 and work.completion_width > 1
    return all_ranks_true(mine)


# ---------------------------------------------------------------- gradients


def clip_grad_norm(parameters, max_norm: float) -> float:
    """Total gradient 2-norm over all ranks' shards (DTensor-aware), clipped to max_norm (0: only measured).
    For DTensor gradients each element lives on exactly one rank (Shard(0)), so the squares of the local shards
    summed over ranks are the full gradient's; replicated tensors count once."""
    from torch.distributed.tensor import DTensor

    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    local, replicated = [], []
    for grad in grads:
        if isinstance(grad, DTensor):
            if all(p.is_shard() for p in grad.placements):
                local.append(grad.to_local())
            else:
                replicated.append(grad.full_tensor())
        else:
            replicated.append(grad)
    device = grads[0].to_local().device if isinstance(grads[0], DTensor) else grads[0].device
    sharded_sq = sum((g.detach().double().pow(2).sum() for g in local), torch.zeros((), dtype=torch.float64,
                                                                                     device=device))
    if local and world_size() > 1:
        reduced = sharded_sq.to(_comm_device(device))
        dist.all_reduce(reduced)
        sharded_sq = reduced.to(device)
    total_sq = sharded_sq + sum((g.detach().double().pow(2).sum().to(device) for g in replicated),
                                torch.zeros((), dtype=torch.float64, device=device))
    total = float(total_sq.sqrt())
    if max_norm > 0:
        scale = max_norm / (total + 1e-6)
        if scale < 1:
            for grad in grads:
                (grad.to_local() if isinstance(grad, DTensor) else grad).mul_(scale)
    return total


def no_sync_context(model, accelerator):
    """DDP: accumulate without all-reducing (update.py all-reduces once); FSDP2 reduce-scatters every backward
    (into sharded gradients), so nothing to suspend."""
    if is_sharded(model) or accelerator.num_processes == 1:
        return nullcontext
    return lambda: accelerator.no_sync(model)


# ---------------------------------------------------------------- full weights out of shards


def check_same_sequence(tag: str, items: list[str]) -> None:
    """Raise CollectiveMismatchError on every rank unless all ranks are about to run the same sequence of
    collectives: compares a digest of `tag` + `items` (e.g. 'sync 7' + the names and shapes to gather)."""
    if world_size() == 1:
        return
    digest = hashlib.sha1("\n".join([tag, *items]).encode()).hexdigest()
    everyone = [None] * world_size()
    dist.all_gather_object(everyone, (tag, digest, len(items)))
    if len({d for _, d, _ in everyone}) > 1:
        raise CollectiveMismatchError(
            f"ranks disagree on {tag!r}: (rank: tag, digest, tensors) = "
            f"{', '.join(f'{r}: {t}, {d[:8]}, {n}' for r, (t, d, n) in enumerate(everyone))}. A rank skipped or "
            f"reordered a weight sync, or holds another model; stopping before the mismatched gathers hang")


def _clean_name(name: str) -> str:
    for wrapper in ("_orig_mod.", "_checkpoint_wrapped_module.", "_fsdp_wrapped_module."):
        name = name.replace(wrapper, "")
    return name.removeprefix("module.")


def _groups(state: dict) -> list[list[str]]:
    """State-dict keys grouped so that a LoRA layer's base weight and its adapters stay together."""
    groups, current, owner = [], [], None
    for name in state:
        module = name.split(".base_layer.")[0] if ".base_layer." in name else name.split(".lora_")[0] \
            if ".lora_" in name else None
        if current and (module is None or module != owner):
            groups.append(current)
            current = []
        current.append(name)
        owner = module
    return groups + ([current] if current else [])


def _gather_bucket(tensors: list) -> list:
    """Full tensors of `tensors` (DTensors sharded on dim 0 of a 1-D mesh are gathered in ONE all-gather of
    their padded local shards, as FSDP2 itself gathers; other DTensors by full_tensor(); plain tensors as they
    are). Same call order on every rank."""
    from torch.distributed.tensor import DTensor

    out = [None] * len(tensors)
    sharded = []
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, DTensor):
            out[i] = tensor.detach()
        elif tensor.device_mesh.ndim == 1 and tensor.placements[0].is_shard(0) and tensor.dim() > 0:
            sharded.append(i)
        else:
            out[i] = tensor.full_tensor().detach()
    by_dtype = {}
    for i in sharded:
        by_dtype.setdefault(tensors[i].dtype, []).append(i)
    for dtype, indices in by_dtype.items():
        mesh = tensors[indices[0]].device_mesh
        world = mesh.size()
        pieces, layout = [], []
        for i in indices:
            tensor = tensors[i]
            rows = math.ceil(tensor.shape[0] / world)
            rest = tuple(tensor.shape[1:])
            local = tensor.to_local().detach().reshape(-1, *rest)
            padded = local.new_zeros((rows, *rest))
            padded[: local.shape[0]] = local
            pieces.append(padded.reshape(-1))
            layout.append((i, rows, rest))
        flat = torch.cat(pieces).to(_comm_device(pieces[0].device, mesh.get_group()))
        gathered = flat.new_empty((world, flat.numel()))
        dist.all_gather(list(gathered.unbind(0)), flat, group=mesh.get_group())
        offset = 0
        for i, rows, rest in layout:
            size = rows * math.prod(rest)
            full = gathered[:, offset: offset + size].reshape(world * rows, *rest)[: tensors[i].shape[0]]
            out[i] = full
            offset += size
    return out


def hf_weight_items(model, bucket_mb: float = 64.0, tag: str = "weights"):
    """(name, full tensor) of every weight of `model` in Hugging Face naming (tied `lm_head.weight` included), in
    buckets of at most `bucket_mb` MB: the extra memory is one bucket, never the whole model. Sharded weights
    are all-gathered (a collective: every rank must consume this iterator to the end, in step). A LoRA policy
    yields merged weights W + scale * B @ A under the base names, computed here, without touching its modules.
    Before the first gather the ranks compare what they are about to gather (`check_same_sequence`)."""
    from zero_rl.lora import is_lora

    lora = is_lora(model)
    module = getattr(model, "module", model)
    if is_sharded(module):
        reshard_all(module)
    state = module.state_dict()
    if is_sharded(module):
        check_same_sequence(tag, [f"{k}:{tuple(v.shape)}:{v.dtype}" for k, v in state.items()])
    scaling = {}
    if lora:
        for name, sub in module.named_modules():
            if hasattr(sub, "scaling") and hasattr(sub, "lora_A"):
                scaling[name] = dict(sub.scaling)
    limit = bucket_mb * 2 ** 20
    bucket, size = [], 0
    for group in _groups(state):
        group_bytes = sum(state[k].numel() * state[k].element_size() for k in group)
        if bucket and size + group_bytes > limit:
            yield from _emit(bucket, state, lora, scaling)
            bucket, size = [], 0
        bucket += group
        size += group_bytes
    if bucket:
        yield from _emit(bucket, state, lora, scaling)


def _emit(names: list, state: dict, lora: bool, scaling: dict):
    full = dict(zip(names, _gather_bucket([state[k] for k in names])))
    for name in names:
        if lora and ".lora_" in name:
            continue
        tensor = full[name]
        if lora and ".base_layer." in name:
            module, _, leaf = name.partition(".base_layer.")
            if leaf == "weight":
                for adapter, scale in scaling.get(module, {}).items():
                    a, b = full.get(f"{module}.lora_A.{adapter}.weight"), full.get(f"{module}.lora_B.{adapter}.weight")
                    if a is not None and b is not None:
                        tensor = tensor + (b.float() @ a.float()).to(tensor.dtype) * scale
            name = f"{module}.{leaf}"
        if lora:
            name = name.removeprefix("base_model.model.")
        yield _clean_name(name), tensor


# ---------------------------------------------------------------- what each rank holds, and its memory


def held_bytes(model, optimizer=None) -> dict:
    """Bytes this rank holds for `model`'s parameters and gradients and `optimizer`'s state (local shards)."""
    from torch.distributed.tensor import DTensor

    def local(t):
        return t.to_local() if isinstance(t, DTensor) else t

    if is_sharded(model):
        reshard_all(model)

    params = sum(local(p).numel() * p.element_size() for p in model.parameters())
    grads = sum(local(p.grad).numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    state = 0
    if optimizer is not None:
        for per_param in optimizer.state.values():
            for value in per_param.values():
                if torch.is_tensor(value) and value.dim() > 0:
                    state += local(value).numel() * value.element_size()
    return {"params": params, "grads": grads, "optimizer": state}


def describe_holdings(name: str, model, strategy: str, rank: int) -> str:
    """One line: what this rank holds of `model` (shown at start-up by `zero-rl train`)."""
    from zero_rl.lora import trainable_counts

    held = held_bytes(model)["params"]
    trainable, total = trainable_counts(model)
    lora = f", LoRA trainable {trainable:,} / {total:,}" if trainable < total else f", trainable {trainable:,}"
    return (f"rank {rank}: {name} {strategy}, {total:,} parameters, holds {held / 2 ** 20:.1f} MB of them "
            f"({'sharded' if is_sharded(model) else 'full copy'}){lora}")


def peak_memory_mb() -> dict:
    """This process's peak memory: CUDA allocated (on GPU) and resident set size (RSS, the whole process)."""
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"memory/peak_rss_mb": rss_kb / 1024 if sys.platform != "darwin" else rss_kb / 2 ** 20}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["memory/peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


def per_rank_memory(accelerator) -> dict:
    """{memory/peak_rss_mb/rank0: ..., memory/peak_rss_mb/rank1: ...} gathered from every rank."""
    mine = peak_memory_mb()
    if accelerator.num_processes == 1:
        return {f"{k}/rank0": v for k, v in mine.items()}
    everyone = [None] * accelerator.num_processes
    dist.all_gather_object(everyone, mine)
    return {f"{k}/rank{r}": v for r, values in enumerate(everyone) for k, v in values.items()}


# ---------------------------------------------------------------- hooks used by the trainer


def process_group_timeout(config):
    """accelerate's handler setting the process group's timeout to `distributed.timeout_s`."""
    from datetime import timedelta

    from accelerate.utils import InitProcessGroupKwargs

    return InitProcessGroupKwargs(timeout=timedelta(seconds=config.timeout_s))


def hold_policy(model, config, needs_reference: bool, log=print):
    """(policy, reference or None, sharded): LoRA adapters applied (`model.lora`; the reference is then the
    policy with adapters disabled), a full frozen copy as reference otherwise, and both sharded with fsdp2."""
    import copy

    from zero_rl.lora import AdaptersDisabled, apply_lora

    reference = None
    if config.model.lora:
        model = apply_lora(model, config.model.lora)
        reference = AdaptersDisabled(model) if needs_reference else None
    elif needs_reference:
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    sharded = config.distributed.strategy == "fsdp2"
    if sharded:
        shard_model(model, config.distributed)
        if reference is not None and not config.model.lora:
            shard_model(reference, config.distributed)
    return model, reference, sharded


def check_launcher(accelerator) -> None:
    """zero-rl shards itself (distributed.strategy=fsdp2); an accelerate config that asks accelerate to shard
    (distributed_type FSDP or DEEPSPEED) would wrap the model a second way: refuse it with what to use instead."""
    from zero_rl.config import ConfigError

    kind = str(accelerator.distributed_type).rsplit(".", 1)[-1]
    if kind in ("FSDP", "DEEPSPEED"):
        raise ConfigError(f"the accelerate config has distributed_type {kind}: zero-rl applies FSDP2 itself, the "
                          f"same code on CPU and GPU. Launch with distributed_type MULTI_GPU "
                          f"(launch/accelerate/multi_gpu.yaml) and set distributed.strategy=fsdp2")


def check_even_eval(config, eval_examples: int, world: int, generator_name: str) -> None:
    """fsdp2 with the transformers generator: every generation step is a forward (a collective), so every rank
    must evaluate the same number of held-out problems."""
    from zero_rl.config import ConfigError

    if config.distributed.strategy == "fsdp2" and generator_name != "vllm" and eval_examples % world:
        raise ConfigError(f"distributed.strategy=fsdp2 with generation.backend=hf: the {eval_examples} held-out "
                          f"problems do not divide evenly across {world} processes (each generation step is a "
                          f"collective every rank must join); set task.eval_size to a multiple of {world} or use "
                          f"generation.backend=vllm")


def print_holdings(models: dict, config, accelerator) -> None:
    """Each rank prints what it holds (strategy, its share of the weights, LoRA trainable / total)."""
    strategy = config.distributed.strategy + (" + LoRA" if config.model.lora else "")
    lines = [describe_holdings(name, model, strategy, accelerator.process_index)
             for name, model in models.items() if model is not None]
    print("\n".join(lines), flush=True)


def checkpoint_functions(config):
    """(save, load) for sharded checkpoints (fsdp2 or LoRA), None for the HF-format one (zero_rl/checkpoint.py)."""
    if config.distributed.strategy == "fsdp2" or config.model.lora:
        from zero_rl.sharded_checkpoint import load_sharded_checkpoint, save_sharded_checkpoint

        return save_sharded_checkpoint, load_sharded_checkpoint
    return None
