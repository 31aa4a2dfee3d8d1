"""Checkpoints: the policy in Hugging Face format (safetensors, loadable with from_pretrained) plus the
trainer state needed for an exact resume (optimizer, scheduler, RNG states, step, data position)."""

import random
import re
from pathlib import Path

import numpy as np
import torch

STEP_DIR = re.compile(r"step-(\d+)$")


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(directory: Path, step: int, model, tokenizer, optimizer, scheduler, trainer_state: dict,
                    rank: int = 0, is_main: bool = True, barrier=lambda: None, critic=None) -> Path:
    """`critic` (PPO's zero_rl.critic.Critic, or None) is saved under critic/: weights, optimizer, scheduler."""
    path = Path(directory) / f"step-{step:06d}"
    if is_main:
        path.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "step": step, **trainer_state}, path / "trainer_state.pt")
        if critic is not None:
            critic.save(path / "critic")
    barrier()
    torch.save(rng_state(), path / f"rng_rank{rank}.pt")
    barrier()
    if is_main:
        (path / "COMPLETE").write_text(str(step))  # written last: a checkpoint without it is ignored
    barrier()
    return path


def latest_checkpoint(directory: Path) -> Path | None:
    directory = Path(directory)
    if not directory.is_dir():
        return None
    done = [p for p in directory.iterdir() if STEP_DIR.search(p.name) and (p / "COMPLETE").exists()]
    return max(done, key=lambda p: int(STEP_DIR.search(p.name).group(1)), default=None)


def load_checkpoint(path: Path, model, optimizer, scheduler, rank: int = 0, critic=None) -> dict:
    """Restore weights, optimizer, scheduler, the critic (if given) and this rank's RNG; returns the saved
    trainer state."""
    from safetensors.torch import load_file

    weights = {}
    for file in sorted(Path(path).glob("*.safetensors")):
        weights.update(load_file(file))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    missing = [k for k in missing if k not in tied and not k.endswith("lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"checkpoint {path} does not match the model: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
    state = torch.load(Path(path) / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if critic is not None:
        critic.load(Path(path) / "critic")
    rng_file = Path(path) / f"rng_rank{rank}.pt"
    if rng_file.exists():
        set_rng_state(torch.load(rng_file, weights_only=False))
    return state
