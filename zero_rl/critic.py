"""PPO's critic: a value model (a causal LM's backbone + a scalar head) and its update.

The value of completion token t is read at the position that predicts it (the state before the token is chosen),
the same positions as the policy's logits, so the critic runs the policy's forward path
(`zero_rl.batch.completion_position_outputs`: shared-prompt KV cache, rows trimmed to their own widths).
It has its own optimizer, learning-rate schedule, gradient clip, micro-batches and epochs; under DDP its
gradients are accumulated under `no_sync` and all-reduced once, as the policy's are (`reduce_clip_step`).
"""

import copy
from pathlib import Path

import torch
from torch import nn

from zero_rl.batch import RolloutBatch, completion_position_outputs
from zero_rl.distributed import agreed_share_prompts, no_sync_context, padded_to_all_ranks, \
    padding_rows, shard_model
from zero_rl.losses import clipped_value_loss, explained_variance, masked_mean
from zero_rl.update import micro_batches, reduce_clip_step


class ValueModel(nn.Module):
    """A transformer backbone with `score = Linear(H, 1, bias=False)`; its output's `.logits` are values [B, L, 1],
    so code written for a causal LM's logits (the shared-prompt forward) runs on it unchanged."""

    def __init__(self, backbone: nn.Module, hidden_size: int, seed: int = 0):
        super().__init__()
        self.backbone = backbone
        self.score = nn.Linear(hidden_size, 1, bias=False)
        init_value_head(self.score, seed)

    def forward(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False,
                logits_to_keep: int = 0, **_):
        from transformers.modeling_outputs import CausalLMOutputWithPast

        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            past_key_values=past_key_values, use_cache=use_cache)
        hidden_BLH = out.last_hidden_state
        if logits_to_keep:
            hidden_BLH = hidden_BLH[:, -logits_to_keep:]
        values_BL1 = self.score(hidden_BLH.to(self.score.weight.dtype))
        return CausalLMOutputWithPast(logits=values_BL1, past_key_values=out.past_key_values)


def init_value_head(head: nn.Linear, seed: int) -> None:
    """Weights ~ N(0, std = 1/(H+1)), as OpenRLHF and Open-Reasoner-Zero re-initialise their value head: initial
    values stay near 0 (a head at the usual std 0.02 on a large hidden state gave values in [-16, 14] and a NaN
    value loss at step 1, verl#498). A private generator: building the critic draws nothing from the run's RNG."""
    hidden = head.weight.shape[1]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=generator) / (hidden + 1))


def build_value_model(policy, name_or_path: str | None, seed: int = 0, gradient_checkpointing: bool = False):
    """The critic's value model: the backbone of `name_or_path` (a hub name or folder), or else a copy of the
    policy's backbone as it is now (at the start of a run: its base checkpoint), with a fresh value head."""
    if name_or_path:
        from transformers import AutoModel

        backbone = AutoModel.from_pretrained(name_or_path)
    else:
        backbone = copy.deepcopy(policy.get_decoder())
    backbone.requires_grad_(True)
    if gradient_checkpointing:
        backbone.gradient_checkpointing_enable()
    return ValueModel(backbone, backbone.config.hidden_size, seed)


def completion_values(model, batch: RolloutBatch, share_prompts: bool = True) -> torch.Tensor:
    """values_BT (float32) of the completion tokens: V_t = the value before completion token t is chosen."""
    T = batch.completion_width
    work = batch.trimmed()
    values_BT = completion_position_outputs(model, work, share_prompts)[..., 0].float()
    return nn.functional.pad(values_BT, (0, T - work.completion_width))


class Critic:
    """The value model with its optimizer and schedule, prepared by `accelerator` (DDP when distributed)."""

    def __init__(self, value_model: ValueModel, config, accelerator, lr_lambda):
        critic = config.critic
        self.config, self.accelerator = config, accelerator
        self.lr = critic.lr if critic.lr is not None else critic.lr_ratio * config.optim.lr
        self.sharded = getattr(config, "distributed", None) is not None and config.distributed.strategy == "fsdp2"
        if self.sharded:  # sharded like the policy, before its optimizer sees the parameters
            value_model = shard_model(value_model, config.distributed)
        optimizer = torch.optim.AdamW(value_model.parameters(), lr=self.lr, betas=tuple(config.optim.betas),
                                      weight_decay=critic.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
        if self.sharded:
            self.model, self.optimizer = value_model, optimizer
        else:
            self.model, self.optimizer = accelerator.prepare(value_model.to(accelerator.device), optimizer)

    @property
    def unwrapped(self) -> ValueModel:
        return self.accelerator.unwrap_model(self.model)

    def _micro_batches(self, rows: torch.Tensor, batch: RolloutBatch) -> list:
        critic = self.config.critic
        return micro_batches(rows, critic.micro_batch_size, batch.attention_mask_BL[rows].sum(dim=1),
                             critic.micro_batch_tokens)

    @torch.no_grad()
    def values(self, batch: RolloutBatch) -> torch.Tensor:
        """values_BT of the whole batch, no gradient (the unwrapped model: no DDP collectives)."""
        model = self.unwrapped.eval()
        values_BT = torch.zeros_like(batch.completion_mask_BT)
        with self.accelerator.autocast():
            for index in padded_to_all_ranks(self._micro_batches(torch.arange(len(batch)), batch), model):
                sub = batch.select(padding_rows(batch) if index is None else index)
                values = completion_values(model, sub, agreed_share_prompts(sub, self.config.optim.share_prompt_forward,
                                                                            model))
                if index is not None:  # (None: fsdp2, a forward to match the other ranks')
                    values_BT[index] = values.cpu()
        return values_BT * batch.completion_mask_BT

    def update(self, batch: RolloutBatch, old_values_BT, returns_BT, mask_BT, step_scheduler: bool = True) -> dict:
        """`critic.update_epochs` optimizer steps, each over the whole batch (micro-batched, accumulated), on the
        clipped value loss, token-mean over `mask_BT`. Returns the critic's metrics."""
        critic, accelerator = self.config.critic, self.accelerator
        self.model.train()
        rows = mask_BT.sum(dim=1).nonzero().squeeze(1)
        weight = 1.0
        if len(rows) == 0:  # nothing to fit here, but every rank must join the gradient all-reduce
            rows, weight = torch.arange(min(1, len(batch))), 0.0
        micro = padded_to_all_ranks(self._micro_batches(rows, batch), self.model)  # fsdp2: None = zero pass
        accumulate = no_sync_context(self.model, accelerator)
        device = next(self.model.parameters()).device
        total_tokens = float(mask_BT[rows].sum()) or 1.0
        loss_sum = clipped_sum = 0.0
        grad_norms = []
        for _ in range(critic.update_epochs):
            for index in micro:
                padding = index is None
                index = padding_rows(batch) if padding else index
                mask_mb = mask_BT[index].to(device) * (0.0 if padding else 1.0)
                with accumulate():
                    with accelerator.autocast():
                        sub = batch.select(index)
                        values_BT = completion_values(self.model, sub, agreed_share_prompts(
                            sub, self.config.optim.share_prompt_forward, self.model))
                    loss_BT, clipped_BT = clipped_value_loss(values_BT, old_values_BT[index].to(device),
                                                             returns_BT[index].to(device), critic.value_clip)
                    loss = (loss_BT * mask_mb).sum() / total_tokens  # token-mean over the whole batch
                    accelerator.backward(loss * (0.0 if padding else weight))
                loss_sum += float(loss.detach())
                clipped_sum += float((clipped_BT * mask_mb).sum())
            grad_norms.append(reduce_clip_step(self.model, self.optimizer, critic.max_grad_norm, accelerator,
                                               self.sharded))
        if step_scheduler:
            self.scheduler.step()
        return {
            "critic/value_loss": loss_sum / critic.update_epochs,
            "critic/value_clip_fraction": clipped_sum / (total_tokens * critic.update_epochs),
            "critic/grad_norm": sum(grad_norms) / len(grad_norms),
            "critic/lr": self.scheduler.get_last_lr()[0],
        }

    # ------------------------------------------------------------ checkpoints

    def save(self, directory: Path) -> None:
        """Weights (safetensors) and optimizer + scheduler state under `directory` (called on the main process)."""
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.unwrapped.state_dict().items()}
        save_file(state, directory / "model.safetensors")
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
                   directory / "trainer_state.pt")

    def load(self, directory: Path) -> None:
        from safetensors.torch import load_file

        if not (directory / "model.safetensors").exists():
            raise FileNotFoundError(f"checkpoint {directory.parent} has no critic ({directory} is missing): it was "
                                    f"saved by a run without a critic; resume it with algorithm.name=grpo")
        self.unwrapped.load_state_dict(load_file(directory / "model.safetensors"))
        state = torch.load(directory / "trainer_state.pt", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def value_metrics(values_BT, returns_BT, mask_BT) -> dict:
    """What the critic predicted for this batch (before its update) against the returns it is fitted to."""
    valid = mask_BT > 0
    values, returns = values_BT[valid], returns_BT[valid]
    if values.numel() == 0:
        return {}
    return {
        "critic/explained_variance": explained_variance(values_BT, returns_BT, mask_BT),
        "critic/values_mean": float(masked_mean(values_BT, mask_BT)),
        "critic/values_min": float(values.min()), "critic/values_max": float(values.max()),
        "critic/returns_mean": float(masked_mean(returns_BT, mask_BT)),
        "critic/returns_min": float(returns.min()), "critic/returns_max": float(returns.max()),
    }
