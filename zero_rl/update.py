"""One policy update on a rollout batch: clipped surrogate (+ optional KL and truncated importance sampling),
micro-batched with gradient accumulation, `update_epochs` optimizer steps."""

import torch

from zero_rl.batch import completion_logprobs
from zero_rl.distributed import agreed_share_prompts, clip_grad_norm, is_sharded, no_sync_context, \
    padded_to_all_ranks, padding_rows
from zero_rl.losses import KL_ESTIMATORS, aggregate, aggregate_share
from zero_rl.losses import policy_loss


def truncated_importance_weights(trainer_logp_BT, behaviour_logp_BT, cap: float):
    """TIS (Yao et al. 2025): w = min(pi_trainer / pi_generator, C) per token, no gradient."""
    return torch.exp(trainer_logp_BT - behaviour_logp_BT).clamp(max=cap).detach()


def micro_batches(rows: torch.Tensor, size: int, tokens_R: torch.Tensor | None = None, token_budget: int = 0) -> list:
    """Split `rows` (in order, so a prompt's rows stay together) into micro-batches: `size` rows each, or, with
    a token budget, as many rows as fit in `token_budget` real tokens (prompt + completion; at least one row),
    so that each micro-batch does about the same work whatever the lengths (verl's dynamic batch size)."""
    if not token_budget:
        return [rows[i: i + size] for i in range(0, len(rows), size)]
    out, current, used = [], [], 0
    for row, tokens in zip(rows.tolist(), tokens_R.tolist()):
        if current and used + tokens > token_budget:
            out.append(torch.tensor(current))
            current, used = [], 0
        current.append(row)
        used += tokens
    return out + ([torch.tensor(current)] if current else [])


def all_reduce_gradients(model, world_size: int) -> None:
    """Average the accumulated gradients across processes in one flat all-reduce: what DDP's reducer does at
    the last micro-batch. The update accumulates under `no_sync` because the shared-prompt forward calls the
    model twice per micro-batch, which DDP's per-forward bookkeeping does not allow."""
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world_size
    for grad, reduced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        grad.copy_(reduced)


def reduce_clip_step(model, optimizer, max_grad_norm: float, accelerator, sharded: bool) -> float:
    """The end of an accumulated update, for the policy, the critic and DPO alike: average the gradients across
    processes (DDP; FSDP2 has reduced them already), clip them (DTensor-aware when sharded; 0: only measured),
    step and zero. Returns the gradient norm before clipping."""
    if accelerator.num_processes > 1 and not sharded:
        all_reduce_gradients(accelerator.unwrap_model(model), accelerator.num_processes)
    if sharded:  # DTensor gradients: the norm over every rank's shards
        grad_norm = clip_grad_norm(model.parameters(), max_grad_norm)
    elif max_grad_norm > 0:
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
    else:
        grad_norm = torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(grad_norm)


@torch.no_grad()
def rollout_logprobs(model, batch, config, accelerator) -> torch.Tensor:
    """logp_BT of the completion tokens under `model` (unwrapped: no DDP collectives), no gradient, micro-batched
    as the update is (used for the KL penalty in PPO's reward)."""
    model = accelerator.unwrap_model(model)
    optim = config.optim
    logp_BT = torch.zeros_like(batch.completion_mask_BT)
    rows = torch.arange(len(batch))
    with accelerator.autocast():
        for index in padded_to_all_ranks(micro_batches(rows, optim.micro_batch_size, batch.attention_mask_BL.sum(
                dim=1), optim.micro_batch_tokens), model):  # (fsdp2: None = a forward to match other ranks')
            sub = batch.select(padding_rows(batch) if index is None else index)
            logp = completion_logprobs(model, sub, config.generation.temperature,
                                       share_prompts=agreed_share_prompts(sub, optim.share_prompt_forward, model))[0]
            if index is not None:
                logp_BT[index] = logp.float().cpu()
    return logp_BT * batch.completion_mask_BT


def policy_loss_params(alg) -> dict:
    """The parameters POLICY_LOSSES entries take, from the algorithm config."""
    return {"clip_low": alg.clip_low, "clip_high": alg.clip_high, "clip_ratio_c": alg.clip_ratio_c,
            "cispo_cap": alg.cispo_cap, "tau_pos": alg.sapo_tau_pos, "tau_neg": alg.sapo_tau_neg}


def policy_update(model, ref_model, optimizer, batch, advantages_B, loss_mask_BT, config, accelerator,
                  use_importance_correction: bool) -> dict:
    alg, optim, gen = config.algorithm, config.optim, config.generation
    rows = loss_mask_BT.sum(dim=1).nonzero().squeeze(1)
    micro = micro_batches(rows, optim.micro_batch_size, batch.attention_mask_BL[rows].sum(dim=1),
                          optim.micro_batch_tokens) if len(rows) else []
    share, distributed = optim.share_prompt_forward, accelerator.num_processes > 1
    # A rank without a token to learn from only joins the gradient all-reduce (with zeros). When no rank has one,
    # the optimizer does not step: AdamW's momentum and weight decay would still move the weights.
    learn = len(rows) > 0
    if distributed:
        any_rows = torch.tensor([float(learn)], device=accelerator.device)
        torch.distributed.all_reduce(any_rows)
        learn = bool(any_rows.item() > 0)
    accumulate = no_sync_context(model, accelerator)
    sharded = is_sharded(model)
    # fsdp2: every forward/backward is a collective, so each rank runs as many as the busiest one (None: a pass
    # with zero loss on one row, nothing recorded)
    passes = padded_to_all_ranks(micro, model)
    totals = {"tokens": 0.0, "clipped": 0.0, "kl": 0.0, "entropy": 0.0, "mismatch_abs": 0.0, "is_weight": 0.0}
    mismatch_max, grad_norms = 0.0, []

    old_logp_BT = None
    if alg.update_epochs > 1:  # the ratio's denominator must stay at the sampling weights across epochs
        old_logp_BT = torch.zeros_like(batch.completion_mask_BT)
        with torch.no_grad(), accelerator.autocast(), accumulate():
            for index in passes:
                sub = batch.select(padding_rows(batch) if index is None else index)
                logp = completion_logprobs(model, sub, gen.temperature,
                                           share_prompts=agreed_share_prompts(sub, share, model))[0]
                if index is not None:
                    old_logp_BT[index] = logp.float().cpu()

    for epoch in range(alg.update_epochs):
        share_total = sum(aggregate_share(loss_mask_BT[index], alg.loss_aggregation) for index in micro) or 1.0
        for index in passes:
            padding = index is None
            index = padding_rows(batch) if padding else index
            sub = batch.select(index)
            share_mb = agreed_share_prompts(sub, share, model)  # (fsdp2: the same number of forwards on every rank)
            mask_BT = loss_mask_BT[index].to(next(model.parameters()).device) * (0.0 if padding else 1.0)
            with accumulate():
                with accelerator.autocast():
                    logp_BT, entropy_BT = completion_logprobs(model, sub, gen.temperature,
                                                              with_entropy=epoch == 0 or alg.entropy_coef > 0,
                                                              share_prompts=share_mb, entropy_grad=alg.entropy_coef > 0)
                logp_BT = logp_BT.float()
                device = logp_BT.device
                old_BT = old_logp_BT[index].to(device) if old_logp_BT is not None else logp_BT.detach()
                adv_B = advantages_B[index].to(device)
                loss_BT, clipped_BT = policy_loss(alg.policy_loss, logp_BT, old_BT, adv_B, mask_BT,
                                                  **policy_loss_params(alg))  # algorithm.policy_loss
                behaviour_BT = sub.behaviour_logp_BT.to(device)
                if use_importance_correction:
                    is_weight_BT = truncated_importance_weights(old_BT, behaviour_BT, gen.importance_cap)
                    loss_BT = loss_BT * is_weight_BT
                loss = aggregate(loss_BT, mask_BT, alg.loss_aggregation, max_length=gen.max_new_tokens)
                if alg.entropy_coef > 0:  # entropy bonus: L -= c * H, aggregated as the policy loss
                    loss = loss - alg.entropy_coef * aggregate(entropy_BT, mask_BT, alg.loss_aggregation,
                                                               max_length=gen.max_new_tokens)
                    entropy_BT = entropy_BT.detach()
                if ref_model is not None:
                    with torch.no_grad(), accelerator.autocast():
                        ref_logp_BT = completion_logprobs(ref_model, sub, gen.temperature, share_prompts=share_mb)[0]
                    kl_BT = KL_ESTIMATORS[alg.kl_estimator](logp_BT, ref_logp_BT)
                    loss = loss + alg.beta * aggregate(kl_BT, mask_BT, alg.loss_aggregation,
                                                       max_length=gen.max_new_tokens)
                    totals["kl"] += float((kl_BT.detach() * mask_BT).sum())
                loss_share = aggregate_share(mask_BT, alg.loss_aggregation) / share_total
                if padding:  # a finite zero (the padding row's own loss may be 0/0)
                    loss, loss_share = logp_BT.sum() * 0.0, 1.0
                accelerator.backward(loss * loss_share)
            if padding:
                continue
            n_tokens = float(mask_BT.sum())
            totals["tokens"] += n_tokens
            totals["clipped"] += float((clipped_BT * mask_BT).sum())
            if epoch == 0:
                completion_BT = sub.completion_mask_BT.to(device)
                delta_BT = (old_BT - behaviour_BT).abs() * completion_BT
                totals["mismatch_abs"] += float(delta_BT.sum())
                totals.setdefault("mismatch_tokens", 0.0)
                totals["mismatch_tokens"] += float(completion_BT.sum())
                mismatch_max = max(mismatch_max, float(delta_BT.max()) if delta_BT.numel() else 0.0)
                totals["entropy"] += float((entropy_BT * mask_BT).sum())
                if use_importance_correction:
                    totals["is_weight"] += float((is_weight_BT * mask_BT).sum())
        if not learn:
            grad_norms.append(float("nan"))
            continue
        grad_norms.append(reduce_clip_step(model, optimizer, optim.max_grad_norm, accelerator, sharded))

    epoch_tokens = totals["tokens"] / alg.update_epochs or 1.0
    first_tokens = totals.get("mismatch_tokens", 0.0) or 1.0
    out = {
        "loss/clip_fraction": totals["clipped"] / (totals["tokens"] or 1.0),
        "loss/entropy": totals["entropy"] / epoch_tokens,
        "loss/grad_norm": sum(grad_norms) / len(grad_norms),
        "mismatch/logp_abs_mean": totals["mismatch_abs"] / first_tokens,
        "mismatch/logp_abs_max": mismatch_max,
        "loss/tokens": totals["tokens"] / alg.update_epochs,
    }
    if ref_model is not None:
        out["loss/kl"] = totals["kl"] / (totals["tokens"] or 1.0)
    if use_importance_correction:
        out["mismatch/is_weight_mean"] = totals["is_weight"] / epoch_tokens
    return out
