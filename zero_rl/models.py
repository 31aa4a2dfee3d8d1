"""Load a policy and its tokenizer: a hub name, a local folder, or (None) the embedded base model."""

import fcntl
import os
import time
from pathlib import Path

import torch


def embedded_base_model_once(recipe=None, progress: bool = True, log=print, lock_dir: Path | None = None) -> Path:
    """The embedded base model's folder, built by one process: every process of a launch (DDP ranks, or two
    commands on a fresh machine) calls this; the first to take the lock builds it, the others wait on the lock
    and then find it in the cache."""
    from zero_rl.embedded import cache_root, embedded_base_model

    lock_dir = Path(lock_dir or cache_root())
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "base-build.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"embedded base model: another process (pid {_holder(lock)}) is building it; waiting")
            started = time.time()
            fcntl.flock(lock, fcntl.LOCK_EX)
            log(f"embedded base model: waited {time.time() - started:.0f} s")
        lock.truncate(0)
        lock.write(str(os.getpid()))  # who holds it, for the message of a process that waits
        lock.flush()
        try:
            return embedded_base_model(recipe, progress=progress, log=log)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _holder(lock) -> str:
    lock.seek(0)
    return lock.read().strip() or "?"


EMBEDDED_VARIANTS = {"embedded:aha": ("zero_rl.aha", "AhaRecipe")}
"""model.name_or_path values that name a variant of the embedded base model (module, recipe class)."""


def embedded_variant_recipe(name: str):
    import importlib

    module, cls = EMBEDDED_VARIANTS[name]
    return getattr(importlib.import_module(module), cls)()


def load_model_and_tokenizer(name_or_path: str | None = None, dtype: str = "float32", progress: bool = True,
                             log=print):
    """(model, tokenizer). None builds the embedded tiny base model once and reuses it from the cache; a key of
    EMBEDDED_VARIANTS ("embedded:aha") builds that variant the same way."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path is None:
        name_or_path = str(embedded_base_model_once(progress=progress, log=log))
    elif name_or_path in EMBEDDED_VARIANTS:
        name_or_path = str(embedded_base_model_once(embedded_variant_recipe(name_or_path), progress=progress, log=log))
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype)
    return model, tokenizer
