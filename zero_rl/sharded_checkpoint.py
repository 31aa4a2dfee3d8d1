"""Sharded checkpoints with torch.distributed.checkpoint (DCP), for fsdp2 and LoRA runs, and their export.

A checkpoint `step-000042/` holds:
- `dcp/`: the policy's weights and AdamW state (and the critic's), each rank writing its own shards (LoRA: the
  adapters only, the frozen base is not saved);
- `trainer_state.pt` (main rank): schedulers, step, data position, history;
- `rng_rank{N}.pt`: each rank's RNG states (exact resume);
- `checkpoint.json`: format, world size, strategy, LoRA options, the base model's path;
- the model's `config.json` and the tokenizer, so `zero-rl export` can build a Hugging Face model from it;
- `COMPLETE`, written last (zero_rl/checkpoint.py's resume/prune conventions apply unchanged).

Resuming needs the same number of processes: DCP itself could reshard the weights, but each rank's RNG state and
its share of the prompts belong to the old layout, and the resume would not be exact. A different world size is
refused with a message that says how to continue (export, then start a run from the exported model).
"""

import json
from pathlib import Path

import torch

from zero_rl.checkpoint import rng_state, set_rng_state

FORMAT = "zero-rl-dcp-1"


def _optimizer(optimizer):
    return getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer wraps the torch one


def _options(model):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    from zero_rl.lora import is_lora

    return StateDictOptions(full_state_dict=False, ignore_frozen_params=is_lora(model))


def _states(model, optimizer, critic) -> dict:
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    from zero_rl.distributed import is_sharded, reshard_all

    for module in (model, critic.unwrapped if critic is not None else None):
        if module is not None and is_sharded(module):
            reshard_all(module)
    options = _options(model)
    state = {"model": get_model_state_dict(model, options=options),
             "optimizer": get_optimizer_state_dict(model, _optimizer(optimizer), options=options)}
    if critic is not None:
        state["critic_model"] = get_model_state_dict(critic.unwrapped)
        state["critic_optimizer"] = get_optimizer_state_dict(critic.unwrapped, _optimizer(critic.optimizer))
    return state


def _world() -> int:
    from zero_rl.distributed import world_size

    return world_size()


def base_config(model):
    """The transformers config of the (possibly peft-wrapped, sharded) policy."""
    from zero_rl.lora import is_lora

    return model.get_base_model().config if is_lora(model) else model.config


def save_sharded_checkpoint(directory: Path, step: int, model, tokenizer, optimizer, scheduler, trainer_state: dict,
                            rank: int = 0, is_main: bool = True, barrier=lambda: None, critic=None) -> Path:
    """Every rank calls this (DCP save is a collective). Same signature as zero_rl.checkpoint.save_checkpoint."""
    import torch.distributed.checkpoint as dcp

    from zero_rl.distributed import is_sharded
    from zero_rl.lora import is_lora

    path = Path(directory) / f"step-{step:06d}"
    if is_main:
        path.mkdir(parents=True, exist_ok=True)
    barrier()
    dcp.save(_states(model, optimizer, critic), checkpoint_id=str(path / "dcp"))
    if is_main:
        extra = {"scheduler": scheduler.state_dict(), "step": step, **trainer_state}
        if critic is not None:
            extra["critic_scheduler"] = critic.scheduler.state_dict()
        torch.save(extra, path / "trainer_state.pt")
        base_config(model).save_pretrained(path)
        tokenizer.save_pretrained(path)
        lora = dict(model.peft_config["default"].to_dict()) if is_lora(model) else None
        info = {"format": FORMAT, "step": step, "world_size": _world(), "sharded": is_sharded(model),
                "lora": json.loads(json.dumps(lora, default=list)) if lora else None,
                "base": getattr(base_config(model), "_name_or_path", None), "critic": critic is not None}
        (path / "checkpoint.json").write_text(json.dumps(info, indent=1))
    torch.save(rng_state(), path / f"rng_rank{rank}.pt")
    barrier()
    if is_main:
        (path / "COMPLETE").write_text(str(step))
    barrier()
    return path


def read_info(path: Path) -> dict:
    file = Path(path) / "checkpoint.json"
    if not file.exists():
        raise FileNotFoundError(f"{path} is not a sharded checkpoint (no checkpoint.json): it was written with "
                                f"distributed.strategy=ddp and no LoRA, and is already a Hugging Face model folder; "
                                f"resume it with that strategy, or start a new run from it with "
                                f"model.name_or_path={path}")
    return json.loads(file.read_text())


def load_sharded_checkpoint(path: Path, model, optimizer, scheduler, rank: int = 0, critic=None) -> dict:
    """Restore weights, optimizer, schedulers, critic and this rank's RNG; returns the saved trainer state.
    Every rank calls this."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    from zero_rl.config import ConfigError

    path = Path(path)
    info = read_info(path)
    if info["world_size"] != _world():
        raise ConfigError(
            f"--resume: checkpoint {path} was written by {info['world_size']} processes and this launch has "
            f"{_world()}. A sharded checkpoint resumes exactly only on the same number of processes (each rank's "
            f"RNG state and share of the prompts belong to it). Relaunch with {info['world_size']} processes, or "
            f"export it (`zero-rl export {path} OUT`) and start a new run with model.name_or_path=OUT")
    if info["critic"] != (critic is not None):
        raise ConfigError(f"--resume: checkpoint {path} {'has' if info['critic'] else 'has no'} critic but this run "
                          f"{'has' if critic is not None else 'has no'} one: resume with the algorithm it was saved with")
    state = _states(model, optimizer, critic)
    dcp.load(state, checkpoint_id=str(path / "dcp"))
    options = _options(model)
    set_model_state_dict(model, state["model"], options=options)
    set_optimizer_state_dict(model, _optimizer(optimizer), state["optimizer"], options=options)
    extra = torch.load(path / "trainer_state.pt", weights_only=False)
    scheduler.load_state_dict(extra["scheduler"])
    if critic is not None:
        set_model_state_dict(critic.unwrapped, state["critic_model"])
        set_optimizer_state_dict(critic.unwrapped, _optimizer(critic.optimizer), state["critic_optimizer"])
        critic.scheduler.load_state_dict(extra["critic_scheduler"])
    rng_file = path / f"rng_rank{rank}.pt"
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=False))
    return extra


def export_checkpoint(path: Path, out: Path, base: str | None = None) -> Path:
    """A merged Hugging Face model folder (safetensors + config + tokenizer, loadable with from_pretrained and by
    vLLM) from a sharded checkpoint, in one process without a process group. LoRA checkpoints are merged into
    their base (`base`, default: the path recorded at save time)."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    import tempfile

    path, out = Path(path), Path(out)
    info = read_info(path)
    with tempfile.TemporaryDirectory() as tmp:
        dcp_to_torch_save(str(path / "dcp"), f"{tmp}/state.pt")
        state = torch.load(f"{tmp}/state.pt", weights_only=False)
    weights = state["model"]
    if info["lora"]:
        from peft import LoraConfig, get_peft_model

        base = base or info["base"]
        if not base or not (Path(base) / "config.json").exists():
            raise FileNotFoundError(f"{path} holds LoRA adapters only; their base model {base!r} is not a local "
                                    f"folder: pass --base PATH (the model the run started from)")
        model = AutoModelForCausalLM.from_pretrained(base)
        lora = {k: v for k, v in info["lora"].items() if k in ("r", "lora_alpha", "lora_dropout", "target_modules")}
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora))
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if unexpected or not any("lora_" in k for k in weights):
            raise RuntimeError(f"{path}: adapters do not fit {base}: unexpected {unexpected[:5]}")
        model = model.merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
        missing, unexpected = model.load_state_dict(weights, strict=False)
        tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
        missing = [k for k in missing if k not in tied]
        if missing or unexpected:
            raise RuntimeError(f"{path}: weights do not match the saved config: missing {missing[:5]}, "
                               f"unexpected {unexpected[:5]}")
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(path).save_pretrained(out)
    return out
