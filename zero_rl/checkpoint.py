"""Checkpoints: the policy in Hugging Face format (safetensors, loadable with from_pretrained) plus the
trainer state needed for an exact resume (optimizer, scheduler, RNG states, step, data position)."""

import random
import re
import shutil
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


def checkpoint_step(path: Path) -> int:
    return int(STEP_DIR.search(Path(path).name).group(1))


def complete_checkpoints(directory: Path) -> list[Path]:
    """Checkpoints whose COMPLETE marker was written, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    done = [p for p in directory.iterdir() if STEP_DIR.search(p.name) and (p / "COMPLETE").exists()]
    return sorted(done, key=checkpoint_step)


def latest_checkpoint(directory: Path) -> Path | None:
    done = complete_checkpoints(directory)
    return done[-1] if done else None


def resume_point(directory: Path, steps: int) -> Path | None:
    """The latest complete checkpoint to resume a run of `steps` steps from; refuses one beyond `steps` (it
    belongs to a longer run: resuming would train nothing and label its weights with an earlier step)."""
    from zero_rl.config import ConfigError

    checkpoint = latest_checkpoint(directory)
    if checkpoint is not None and checkpoint_step(checkpoint) > steps:
        raise ConfigError(f"--resume: the latest checkpoint {checkpoint} is at step {checkpoint_step(checkpoint)}, "
                          f"beyond run.steps={steps}; resume with run.steps >= {checkpoint_step(checkpoint)} or "
                          f"start a new run with another --output-dir")
    return checkpoint


def prune_checkpoints(directory: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` complete checkpoints (0: keep all); returns what was deleted.
    Incomplete ones are left alone: one may be in the middle of being written."""
    if keep_last <= 0:
        return []
    old = complete_checkpoints(directory)[:-keep_last]
    for path in old:
        (path / "COMPLETE").unlink()  # first, so a half-deleted folder never reads as a checkpoint
        shutil.rmtree(path)
    return old


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
