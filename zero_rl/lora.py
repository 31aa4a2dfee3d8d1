"""LoRA adapters on the policy with peft (`model.lora: {rank, alpha, dropout, target_modules}`).

- Only the adapters train; the base weights stay frozen (and stay as loaded: nothing is merged into them).
- The reference model is the same module with its adapters disabled (`AdaptersDisabled`): no second copy.
- vLLM gets merged weights W + scale * B @ A computed on the fly, tensor by tensor, by the sync
  (`zero_rl.distributed.hf_weight_items`), without calling peft's merge_adapter (which mutates the trainer's
  modules and fails on sharded weights: trl PR #3094, axolotl#3294). vLLM's own LoRA adapters were not used:
  they need `enable_lora` and an engine-specific adapter format, cost ~1.3x time per output token (TRL's
  measurement) and a merged base is what the engine serves after export anyway.
"""

from torch import nn

LORA_DEFAULTS = {"rank": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}
"""Options of `model.lora` and their defaults (rank 1-32 matches full fine-tuning for RL: "LoRA without regret")."""


def check_lora_options(options: dict) -> None:
    from zero_rl.config import ConfigError

    if not isinstance(options, dict):
        raise ConfigError(f"model.lora must be a mapping {{rank, alpha, dropout, target_modules}}, got {options!r}")
    unknown = set(options) - set(LORA_DEFAULTS)
    if unknown:
        raise ConfigError(f"model.lora: unknown option(s) {', '.join(sorted(unknown))}; valid: "
                          f"{', '.join(LORA_DEFAULTS)}")
    if not options:
        return
    merged = lora_options(options)
    if not (isinstance(merged["rank"], int) and merged["rank"] >= 1):
        raise ConfigError(f"model.lora.rank must be an integer >= 1, got {merged['rank']!r}")
    if not (isinstance(merged["alpha"], (int, float)) and merged["alpha"] > 0):
        raise ConfigError(f"model.lora.alpha must be > 0, got {merged['alpha']!r}")
    if not (isinstance(merged["dropout"], (int, float)) and 0 <= merged["dropout"] < 1):
        raise ConfigError(f"model.lora.dropout must be in [0, 1), got {merged['dropout']!r}")
    targets = merged["target_modules"]
    if not (targets == "all-linear" or (isinstance(targets, list) and targets
                                        and all(isinstance(t, str) for t in targets))):
        raise ConfigError(f"model.lora.target_modules must be 'all-linear' or a list of module names "
                          f"(e.g. [q_proj, v_proj]), got {targets!r}")


def lora_options(options: dict) -> dict:
    return {**LORA_DEFAULTS, **options}


def apply_lora(model, options: dict):
    """`model` wrapped by peft with fresh adapters (B = 0, so the wrapped model computes what `model` did);
    only adapter parameters require grad."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ImportError("model.lora needs peft: pip install 'zero-rl[lora]' (or pip install peft)") from None
    options = lora_options(options)
    config = LoraConfig(r=options["rank"], lora_alpha=options["alpha"], lora_dropout=options["dropout"],
                        target_modules=options["target_modules"], task_type="CAUSAL_LM")
    if getattr(model, "is_gradient_checkpointing", False):
        model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks still need a grad input
    return get_peft_model(model, config)


def is_lora(model) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


class AdaptersDisabled(nn.Module):
    """The reference model of a LoRA policy: the policy's own module run with its adapters disabled (the base
    weights, frozen). Holds no weights of its own; not registered as a submodule (no second state_dict)."""

    def __init__(self, peft_model):
        super().__init__()
        object.__setattr__(self, "peft_model", peft_model)  # a plain attribute: not a child module
        self.config = peft_model.config

    def parameters(self, recurse: bool = True):
        return self.peft_model.parameters(recurse)

    def forward(self, *args, **kwargs):
        with self.peft_model.disable_adapter():
            return self.peft_model(*args, **kwargs)


def trainable_counts(model) -> tuple[int, int]:
    """(trainable, total) parameter element counts, over the full (unsharded) shapes."""
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total
