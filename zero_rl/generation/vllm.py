"""vLLM backend: a vLLM engine colocated in the training process, weights synced in place after every update.

This is the only module that touches vLLM internals; vLLM is imported lazily, so the rest of zero-rl runs
without it. One engine per training process: under `accelerate launch` / torchrun every rank starts its own
engine with `distributed_executor_backend="external_launcher"` and samples its own share of the prompts.

Weight sync never writes to disk: the trainer's `state_dict()` (which keeps the tied `lm_head.weight` that
`save_pretrained` drops) is streamed into the worker's `reload_weights(weights_iterator=...)`, then the prefix
cache is reset so no KV block computed with the old weights is reused. Calling `model.load_weights` on vLLM's
model directly, as older RL code does, fails on vLLM's CPU backend after its weight post-processing
("'Parameter' object has no attribute 'weight_loader'").

Environment, set with `setdefault` before vLLM is imported:
- VLLM_ENABLE_V1_MULTIPROCESSING=0 keeps the engine in this process, so weights pass by reference (required:
  the engine must live beside the trainer for in-place sync; external_launcher forces it too).
- VLLM_CPU_KVCACHE_SPACE=1 (GiB, CPU only): vLLM's CPU default reserves most of the node's memory and refuses
  to start on a shared machine.
- vLLM's CPU worker turns `torch.set_num_threads` into a no-op in the process hosting it: set OMP_NUM_THREADS
  before starting Python.

GPU options from `GenerationConfig` (gpu_memory_utilization, enable_sleep_mode, tensor_parallel_size,
enable_prefix_caching, vllm_dtype) are passed to vLLM as they are; on CPU vLLM sizes its cache from
VLLM_CPU_KVCACHE_SPACE (gpu_memory_utilization is ignored), has no sleep mode (the engine is not asked to sleep,
but `sleep`/`wake` keep the same contract so a loop that runs in CPU CI runs on a GPU) and runs eagerly.
"""

import os
import tempfile
from pathlib import Path

import torch

from zero_rl.generation import Completion, SamplingParams

# A fixed prompt whose greedy continuation checks that the engine samples from the trainer's weights.
PROBE_TEXT = "Question: 12 + 30 = ? Think step by step. <think>"
PROBE_TOKENS = 16
# Largest |log-prob difference| check_sync accepts, by engine dtype: fp32 kernels agree to ~3e-6 on CPU;
# bf16 differs from the fp32 trainer by up to ~3e-2 on the tiny model.
SYNC_TOLERANCE = {"float32": 1e-3, "bfloat16": 0.1, "float16": 0.05}
# Sleep level 2 discards the weights instead of copying them to host memory: every wake is followed by a full
# sync anyway, so a copy would be wasted.
SLEEP_LEVEL = 2
MIN_BATCHED_TOKENS = 8192  # CPU token budget per engine step (at least max_model_len)
DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


class WeightSyncError(RuntimeError):
    """The engine does not (or may not) hold the trainer's current weights; training on it would be off-policy."""


def set_vllm_environment() -> None:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    if os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] != "0":
        raise RuntimeError("VLLM_ENABLE_V1_MULTIPROCESSING must be 0 for the colocated vLLM generator: weights are "
                           "synced in place into an engine in the training process; unset it or set it to 0")


def on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def distributed_world() -> int:
    """Processes in this training job (torchrun / accelerate set WORLD_SIZE)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_model_dir(model) -> Path | None:
    """The folder `model` was loaded from, if it is a local folder vLLM can load (None for hub names)."""
    for name in (getattr(model.config, "_name_or_path", None), getattr(model, "name_or_path", None)):
        if name and (Path(name) / "config.json").is_file():
            return Path(name)
    return None


def engine_kwargs(model_dir: str, tokenizer_dir: str, dtype: str, config, cpu: bool, world: int,
                  seed: int = 0, max_model_len: int | None = None, load_format: str = "auto") -> dict:
    """Keyword arguments for `vllm.LLM` from a GenerationConfig (None: its defaults)."""
    kwargs = dict(
        model=str(model_dir), tokenizer=str(tokenizer_dir), dtype=dtype, seed=seed,
        # the sampled token's log-prob after temperature / top-p: the behaviour policy the trainer corrects for,
        # as the transformers backend returns it
        logprobs_mode="processed_logprobs",
        enable_prefix_caching=config.enable_prefix_caching,
        gpu_memory_utilization=config.gpu_memory_utilization,
        tensor_parallel_size=config.tensor_parallel_size,
        max_model_len=max_model_len, load_format=load_format,
    )
    tp = config.tensor_parallel_size
    if tp > 1 and world % tp:
        raise ValueError(f"generation.tensor_parallel_size={tp} needs a launch with a multiple of {tp} processes "
                         f"(accelerate launch / torchrun), got {world}: the colocated engine spans {tp} consecutive "
                         f"training ranks, one GPU each")
    if world > 1:
        # one engine per torchrun rank, reusing the launcher's process group (TP spans consecutive ranks)
        kwargs["distributed_executor_backend"] = "external_launcher"
    if cpu:
        kwargs["enforce_eager"] = True  # torch.compile costs 20-30 s at start-up and gains little on CPU
        # A prompt prefilled in chunks has its first sampled token discarded and its seeded generator rewound,
        # which CPU generators cannot do ("CPU Generator does not use offset"): with per-request seeds, any
        # batch of more than max_num_batched_tokens prompt tokens would crash. Whole-prompt prefill avoids it
        # (vLLM does the same on CPU for MLA models); the budget must then hold the longest sequence.
        kwargs["enable_chunked_prefill"] = False
        kwargs["max_num_batched_tokens"] = max(max_model_len or 0, MIN_BATCHED_TOKENS)
    elif config.enable_sleep_mode:
        kwargs["enable_sleep_mode"] = True  # vLLM refuses it on platforms without sleep support (CPU)
    return kwargs


def vllm_sampling_params(params: SamplingParams, prompt_count: int, eos_id: int | None) -> list:
    """One vllm.SamplingParams per prompt. Each prompt gets its own seed: vLLM seeds the n samples of a
    request seed, seed+1, ..., so equal prompts with equal seeds would otherwise get identical groups."""
    import vllm

    out = []
    for index in range(prompt_count):
        seed = None if params.seed is None else (params.seed + 1_000_003 * index) % 2**62
        out.append(vllm.SamplingParams(
            n=params.n, temperature=params.temperature, top_p=params.top_p if params.temperature > 0 else 1.0,
            max_tokens=params.max_new_tokens, stop=list(params.stop) or None,
            stop_token_ids=[eos_id] if eos_id is not None else None, seed=seed, logprobs=0,
        ))
    return out


def to_completions(request_outputs) -> list[Completion]:
    """vLLM RequestOutputs (one per prompt, in prompt order) -> prompt-major Completions."""
    completions = []
    for prompt_index, request in enumerate(request_outputs):
        for out in sorted(request.outputs, key=lambda o: o.index):
            if out.finish_reason not in ("stop", "length"):
                raise RuntimeError(f"vLLM finished prompt {prompt_index} with {out.finish_reason!r} "
                                   f"(expected 'stop' or 'length'); see vLLM's log above")
            ids = list(out.token_ids)
            logprobs = None
            if out.logprobs is not None:
                logprobs = [step[token].logprob for step, token in zip(out.logprobs, ids)]
            completions.append(Completion(prompt_index=prompt_index, token_ids=ids, text=out.text,
                                          logprobs=logprobs, finish_reason=out.finish_reason))
    return completions


def full_state_items(model):
    """(name, tensor) of every weight in HF checkpoint naming, tied `lm_head.weight` included; sharded (DTensor,
    FSDP2) parameters are gathered, one at a time, on every rank (a collective: all ranks must call this)."""
    model = getattr(model, "module", model)  # DDP / accelerate wrapper
    for name, tensor in model.state_dict().items():
        if hasattr(tensor, "full_tensor"):
            tensor = tensor.full_tensor()
        yield name.removeprefix("_orig_mod."), tensor.detach()


def check_head_size(model, cpu: bool) -> None:
    """vLLM's CPU attention supports a fixed set of head sizes; fail at start-up, not at the first generate."""
    if not cpu:
        return
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    config = model.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    supported = CPUAttentionBackend.get_supported_head_sizes()
    if head_dim not in supported:
        raise ValueError(f"vLLM's CPU attention does not support head size {head_dim} "
                         f"(hidden_size {config.hidden_size} / {config.num_attention_heads} heads); supported: "
                         f"{supported}. Use generation.backend=hf for this model.")


class VLLMGenerator:
    name = "vllm"

    def __init__(self, model, tokenizer, config=None, seed: int = 0, max_model_len: int | None = None,
                 sync_tolerance: float | None = None, log=print):
        from zero_rl.config import GenerationConfig

        set_vllm_environment()
        import vllm

        self.config = config or GenerationConfig()
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self.cpu = on_cpu()
        check_head_size(model, self.cpu)
        trainer_dtype = DTYPE_NAMES.get(next(model.parameters()).dtype, "float32")
        self.dtype = trainer_dtype if self.config.vllm_dtype == "auto" else self.config.vllm_dtype
        self.sync_tolerance = sync_tolerance if sync_tolerance is not None else SYNC_TOLERANCE[self.dtype]
        self.sleep_mode = self.config.enable_sleep_mode
        self.asleep = False
        self.weights_stale = False
        self._temp_dir = None

        model_dir = local_model_dir(model)
        tokenizer_dir = model_dir if model_dir and Path(tokenizer.name_or_path or "") == model_dir else None
        load_format = "auto"
        if model_dir is None or tokenizer_dir is None:
            # An in-memory model (or a hub name): vLLM starts from its config with placeholder weights and the
            # real ones arrive by sync below. Not save_pretrained: under torch.distributed it writes on rank 0
            # only, and the weights would be written just to be replaced.
            self._temp_dir = tempfile.TemporaryDirectory(prefix="zero-rl-vllm-")
            if model_dir is None:
                model_dir = Path(self._temp_dir.name)
                unwrapped = getattr(model, "module", model)
                unwrapped.config.save_pretrained(model_dir)
                if getattr(unwrapped, "generation_config", None) is not None:
                    unwrapped.generation_config.save_pretrained(model_dir)
                load_format = "dummy"
            tokenizer_dir = Path(self._temp_dir.name)
            tokenizer.save_pretrained(tokenizer_dir)
        max_model_len = max_model_len or getattr(getattr(model, "module", model).config, "max_position_embeddings",
                                                 None)
        kwargs = engine_kwargs(model_dir, tokenizer_dir, self.dtype, self.config, self.cpu, distributed_world(),
                               seed, max_model_len, load_format)
        self.llm = vllm.LLM(**kwargs)
        self.sync_weights(model)  # the folder may be older than the weights in memory (resumed or edited model)
        log(f"generator vllm {vllm.__version__}: {'CPU' if self.cpu else 'GPU'}, dtype {self.dtype}, "
            f"{kwargs.get('distributed_executor_backend', 'in-process')} engine from {model_dir}")

    # ------------------------------------------------------------------ generation

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> list[Completion]:
        if self.asleep or self.weights_stale:
            raise WeightSyncError(
                "vLLM generator: generate() called while the engine is asleep or after wake() without "
                "sync_weights(); its weights were discarded by sleep mode. Call wake() then sync_weights(model).")
        parts = self._gather_tensor_parallel(list(prompt_ids), params)
        prompts, sampling, offset = [], [], 0
        for rank, (part_ids, part_params) in enumerate(parts):
            if rank == self._tp_rank():
                offset = len(prompts)
            prompts += [{"prompt_token_ids": list(ids)} for ids in part_ids]
            sampling += vllm_sampling_params(part_params, len(part_ids), self.eos_id)
        completions = to_completions(self.llm.generate(prompts, sampling, use_tqdm=False))
        mine = [c for c in completions if offset <= c.prompt_index < offset + len(prompt_ids)]
        for c in mine:
            c.prompt_index -= offset
        return mine

    def _tp_rank(self) -> int:
        if self.config.tensor_parallel_size == 1:
            return 0
        from vllm.distributed.parallel_state import get_tp_group

        return get_tp_group().rank_in_group

    def _gather_tensor_parallel(self, prompt_ids: list, params: SamplingParams) -> list:
        """[(prompt_ids, params)] of every rank of this engine's tensor-parallel group. The ranks of a TP group
        drive one engine together and must submit identical requests, while the training loop gives each rank
        its own prompts: every rank submits all of them (each with its own rank's sampling params and seeds)
        and keeps its own completions."""
        if self.config.tensor_parallel_size == 1:
            return [(prompt_ids, params)]
        from vllm.distributed.parallel_state import get_tp_group

        group = get_tp_group()
        parts = [None] * group.world_size
        torch.distributed.all_gather_object(parts, (prompt_ids, params), group=group.cpu_group)
        return parts

    # ------------------------------------------------------------------ weights

    def sync_weights(self, model) -> None:
        """Stream the trainer's weights into the engine in place, then drop the prefix cache built on the old ones."""
        if self.asleep:  # loading into a sleeping engine would be undone (or lost) when it wakes
            self.wake()
        from zero_rl.distributed import hf_weight_items

        # gathered bucket by bucket from shards under fsdp2 (LoRA: merged on the fly); the ranks first check that
        # they are all at the same sync over the same weights
        self.syncs = getattr(self, "syncs", 0) + 1
        weights = hf_weight_items(model, self.config.sync_bucket_mb, tag=f"vLLM weight sync {self.syncs}")
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        self.llm.reset_prefix_cache()
        self.weights_stale = False

    def sleep(self) -> None:
        """Free the engine's weights and KV cache for the policy update (GPU sleep mode); no-op unless
        generation.enable_sleep_mode. After it, generation needs wake() and sync_weights()."""
        if not self.sleep_mode or self.asleep:
            return
        if not self.cpu:
            self.llm.sleep(level=SLEEP_LEVEL)
        self.asleep = True
        self.weights_stale = True

    def wake(self) -> None:
        if not self.asleep:
            return
        if not self.cpu:
            self.llm.wake_up()
        self.asleep = False

    @torch.no_grad()
    def check_sync(self, model) -> dict:
        """Greedy tokens and log-probs of a fixed probe prompt, engine vs trainer; raise WeightSyncError on a
        mismatch. The trainer scores the engine's greedy tokens in one forward pass: the engine decoded greedily
        iff each of its tokens is the trainer's argmax (up to a near-tie within the tolerance)."""
        prompt = self.tokenizer(PROBE_TEXT, add_special_tokens=False)["input_ids"]
        greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=PROBE_TOKENS)
        import vllm

        probe = vllm_sampling_params(greedy, 1, None)[0]
        probe.ignore_eos = True  # always compare PROBE_TOKENS tokens
        completion = to_completions(self.llm.generate([{"prompt_token_ids": prompt}], probe, use_tqdm=False))[0]
        engine_logp_T = torch.tensor(completion.logprobs, dtype=torch.float64)

        trainer = getattr(model, "module", model)
        device = next(trainer.parameters()).device
        was_training = trainer.training
        trainer.eval()
        try:
            input_ids = torch.tensor([prompt + completion.token_ids], device=device)
            logits_TV = trainer(input_ids=input_ids, use_cache=False).logits[0, len(prompt) - 1: -1].double()
        finally:
            trainer.train(was_training)
        logp_TV = logits_TV.log_softmax(-1).cpu()
        tokens_T = torch.tensor(completion.token_ids)
        trainer_logp_T = logp_TV.gather(-1, tokens_T.unsqueeze(-1)).squeeze(-1)
        delta_T = (trainer_logp_T - engine_logp_T).abs()
        # how far each engine token is from the trainer's best token (0 where the trainer agrees)
        argmax_gap_T = logp_TV.max(-1).values - trainer_logp_T
        metrics = {"sync/logp_abs_max": float(delta_T.max()), "sync/logp_abs_mean": float(delta_T.mean()),
                   "sync/greedy_token_match": float((argmax_gap_T == 0).double().mean())}
        if metrics["sync/logp_abs_max"] > self.sync_tolerance or float(argmax_gap_T.max()) > self.sync_tolerance:
            first = int((argmax_gap_T > self.sync_tolerance).nonzero()[0]) if float(argmax_gap_T.max()) > \
                self.sync_tolerance else None
            raise WeightSyncError(
                f"vLLM generator out of sync with the trainer on the probe prompt: max |logp diff| "
                f"{metrics['sync/logp_abs_max']:.3g} (tolerance {self.sync_tolerance:g}), greedy tokens "
                f"{'equal' if first is None else f'differ from position {first}'}. The engine is generating from "
                f"other weights than the ones being trained (a missed sync, a weight the sync did not reach such "
                f"as a tied lm_head, or a stale engine after sleep). Stopping rather than training off-policy; "
                f"generation.check_sync_every=0 turns this check off.")
        return metrics

    def close(self) -> None:
        """Shut the engine down and free it. Call it after the trainer's last collective and before the trainer
        ends its process group: vLLM's teardown destroys its groups and the default process group, and when it
        runs later (its exit-time finalizer, after `accelerator.end_training()`), it fails with a traceback
        ("Invalid process group specified") after a successful run."""
        client = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if client is not None:
            if torch.distributed.is_available() and not torch.distributed.is_initialized():
                # the process group is already gone (ended by the trainer): vLLM's group teardown would fail
                finalizer = getattr(client, "_finalizer", None)
                if finalizer is not None:
                    finalizer.detach()
            else:
                client.shutdown()
        self.llm = None
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None
