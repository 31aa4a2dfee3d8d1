"""One policy update on a rollout batch: clipped surrogate (+ optional KL and truncated importance sampling),
micro-batched with gradient accumulation, `update_epochs` optimizer steps."""

from contextlib import nullcontext

import torch

from zero_rl.batch import completion_logprobs
from zero_rl.losses import KL_ESTIMATORS, aggregate, aggregate_share, clipped_policy_loss


def truncated_importance_weights(trainer_logp_BT, behaviour_logp_BT, cap: float):
    """TIS (Yao et al. 2025): w = min(pi_trainer / pi_generator, C) per token, no gradient."""
    return torch.exp(trainer_logp_BT - behaviour_logp_BT).clamp(max=cap).detach()


def _micro_batches(rows: torch.Tensor, size: int) -> list:
    return [rows[i: i + size] for i in range(0, len(rows), size)]


def policy_update(model, ref_model, optimizer, batch, advantages_B, loss_mask_BT, config, accelerator,
                  use_importance_correction: bool) -> dict:
    alg, optim, gen = config.algorithm, config.optim, config.generation
    rows = loss_mask_BT.sum(dim=1).nonzero().squeeze(1)
    weight = 1.0
    if len(rows) == 0:  # nothing to learn from here, but every rank must join the gradient all-reduce
        rows, weight = torch.arange(min(1, len(batch))), 0.0
    micro = _micro_batches(rows, optim.micro_batch_size)
    totals = {"tokens": 0.0, "clipped": 0.0, "kl": 0.0, "entropy": 0.0, "mismatch_abs": 0.0, "is_weight": 0.0}
    mismatch_max, grad_norms = 0.0, []

    old_logp_BT = None
    if alg.update_epochs > 1:  # the ratio's denominator must stay at the sampling weights across epochs
        old_logp_BT = torch.zeros_like(batch.completion_mask_BT)
        with torch.no_grad(), accelerator.autocast():
            for index in micro:
                old_logp_BT[index] = completion_logprobs(model, batch.select(index), gen.temperature)[0].float().cpu()

    for epoch in range(alg.update_epochs):
        share_total = sum(aggregate_share(loss_mask_BT[index], alg.loss_aggregation) for index in micro) or 1.0
        for number, index in enumerate(micro):
            sub = batch.select(index)
            mask_BT = loss_mask_BT[index].to(next(model.parameters()).device)
            sync = number == len(micro) - 1
            with (nullcontext() if sync else accelerator.no_sync(model)):
                with accelerator.autocast():
                    logp_BT, entropy_BT = completion_logprobs(model, sub, gen.temperature, with_entropy=epoch == 0)
                logp_BT = logp_BT.float()
                device = logp_BT.device
                old_BT = old_logp_BT[index].to(device) if old_logp_BT is not None else logp_BT.detach()
                adv_B = advantages_B[index].to(device)
                loss_BT, clipped_BT = clipped_policy_loss(logp_BT, old_BT, adv_B, alg.clip_low, alg.clip_high)
                behaviour_BT = sub.behaviour_logp_BT.to(device)
                if use_importance_correction:
                    is_weight_BT = truncated_importance_weights(old_BT, behaviour_BT, gen.importance_cap)
                    loss_BT = loss_BT * is_weight_BT
                loss = aggregate(loss_BT, mask_BT, alg.loss_aggregation, max_length=gen.max_new_tokens)
                if ref_model is not None:
                    with torch.no_grad(), accelerator.autocast():
                        ref_logp_BT = completion_logprobs(ref_model, sub, gen.temperature)[0].float()
                    kl_BT = KL_ESTIMATORS[alg.kl_estimator](logp_BT, ref_logp_BT)
                    loss = loss + alg.beta * aggregate(kl_BT, mask_BT, alg.loss_aggregation,
                                                       max_length=gen.max_new_tokens)
                    totals["kl"] += float((kl_BT.detach() * mask_BT).sum())
                share = aggregate_share(mask_BT, alg.loss_aggregation) / share_total
                accelerator.backward(loss * share * weight)
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
        if optim.max_grad_norm > 0:
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), optim.max_grad_norm)
        else:
            grad_norm = torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))
        grad_norms.append(float(grad_norm))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    epoch_tokens = totals["tokens"] / alg.update_epochs or 1.0
    first_tokens = totals.get("mismatch_tokens", 0.0) or 1.0
    out = {
        "loss/clip_fraction": totals["clipped"] / (totals["tokens"] or 1.0),
        "loss/entropy": totals["entropy"] / epoch_tokens,
        "loss/grad_norm": sum(grad_norms) / len(grad_norms),
        "mismatch/logp_abs_mean": totals["mismatch_abs"] / first_tokens,
        "mismatch/logp_abs_max": mismatch_max,
        "loss/tokens": epoch_tokens * weight,
    }
    if ref_model is not None:
        out["loss/kl"] = totals["kl"] / (totals["tokens"] or 1.0)
    if use_importance_correction:
        out["mismatch/is_weight_mean"] = totals["is_weight"] / epoch_tokens
    return out
