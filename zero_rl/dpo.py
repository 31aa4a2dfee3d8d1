"""Direct preference optimisation on the training loop: online DPO from verifier-ranked groups, and offline DPO
from a preference file, through one loss.

- Pairs (`select_pairs`): from each prompt's G scored completions, the best against the worst, then the second
  best against the second worst, ... (`dpo_pairs_per_group`); a pair whose rewards are equal is skipped, so an
  all-equal group gives none. Ties within the best (or worst) are broken by the lower row index.
- Loss (`dpo_loss`), with h = (log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l)) on sequence log-probs:
    sigmoid (DPO, Rafailov et al. 2023):  -log sigmoid(beta * h)
    ipo     (IPO, Azar et al. 2023):      (h - 1 / (2 * beta))^2
  with `length_normalize` the sequence log-probs are means over the completion's tokens instead of sums (the
  length-normalised variant, as SimPO / TRL's IPO use, which removes DPO's pull toward longer answers).
- Implicit rewards beta * (log pi - log ref) of chosen and rejected; logged: their margin, and the accuracy
  (share of pairs whose chosen implicit reward is higher).
"""

import json
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from zero_rl.batch import build_batch, completion_logprobs

DPO_LOSSES = ("sigmoid", "ipo")


def select_pairs(rewards_B: torch.Tensor, group_size: int, pairs_per_group: int = 1,
                 eligible_B: torch.Tensor | None = None) -> list:
    """[(chosen_row, rejected_row), ...] from groups of `group_size` consecutive rows (prompt-major): in each
    group, k-th best against k-th worst for k < pairs_per_group, each row used at most once, only while the
    chosen reward is strictly higher. Rows with eligible_B False (e.g. masked out of the loss) are left out."""
    if rewards_B.ndim != 1 or rewards_B.numel() % group_size:
        raise ValueError(f"rewards of shape {tuple(rewards_B.shape)} do not split into groups of {group_size}")
    if pairs_per_group < 1:
        raise ValueError(f"pairs_per_group must be >= 1, got {pairs_per_group}")
    pairs = []
    for start in range(0, rewards_B.numel(), group_size):
        rows = [r for r in range(start, start + group_size) if eligible_B is None or bool(eligible_B[r])]
        best_first = sorted(rows, key=lambda r: (-float(rewards_B[r]), r))
        worst_first = sorted(rows, key=lambda r: (float(rewards_B[r]), r))
        used = set()
        for k in range(min(pairs_per_group, len(rows) // 2)):
            chosen = next(r for r in best_first if r not in used)
            used.add(chosen)
            rejected = next((r for r in worst_first if r not in used), None)
            if rejected is None or float(rewards_B[chosen]) <= float(rewards_B[rejected]):
                break
            used.add(rejected)
            pairs.append((chosen, rejected))
    return pairs


def sequence_logps(logp_BT: torch.Tensor, mask_BT: torch.Tensor, length_normalize: bool) -> torch.Tensor:
    """Sum (or, length-normalised, mean) of each sequence's token log-probs over its mask -> logp_B."""
    total_B = (logp_BT * mask_BT).sum(dim=1)
    return total_B / mask_BT.sum(dim=1).clamp(min=1) if length_normalize else total_B


def dpo_loss(chosen_logp_N, rejected_logp_N, ref_chosen_logp_N, ref_rejected_logp_N, beta: float,
             loss_type: str = "sigmoid") -> tuple:
    """Per-pair loss_N, chosen_reward_N, rejected_reward_N (implicit rewards beta * (logp - ref_logp), no
    gradient) from sequence log-probs of N pairs; see the module docstring for the formulas."""
    if loss_type not in DPO_LOSSES:
        raise KeyError(f"unknown DPO loss {loss_type!r}; valid: {', '.join(DPO_LOSSES)}")
    chosen_ratio_N = chosen_logp_N - ref_chosen_logp_N
    rejected_ratio_N = rejected_logp_N - ref_rejected_logp_N
    h_N = chosen_ratio_N - rejected_ratio_N
    if loss_type == "sigmoid":
        loss_N = -F.logsigmoid(beta * h_N)
    else:
        loss_N = (h_N - 1.0 / (2.0 * beta)) ** 2
    return loss_N, beta * chosen_ratio_N.detach(), beta * rejected_ratio_N.detach()


def _pair_logps(model, batch, rows, length_normalize, share, autocast, grad: bool):
    sub = batch.select(rows)
    context = nullcontext() if grad else torch.no_grad()
    with context, autocast():
        logp_BT = completion_logprobs(model, sub, 1.0, share_prompts=share)[0]
    mask_BT = sub.completion_mask_BT.to(logp_BT.device)
    return sequence_logps(logp_BT.float(), mask_BT, length_normalize), float(mask_BT.sum())


def dpo_pair_update(model, ref_model, optimizer, batch, pairs: list, config, accelerator) -> dict:
    """`update_epochs` optimizer steps of the DPO loss on `pairs` of batch rows, micro-batched (up to
    optim.micro_batch_size rows, i.e. half as many pairs, per forward) with gradient accumulation. Log-probs at
    temperature 1 (the policy's own distribution, as the reference's). No pair on any rank: no optimizer step."""
    from zero_rl.update import reduce_clip_step

    alg, optim = config.algorithm, config.optim
    distributed = accelerator.num_processes > 1
    learn = len(pairs) > 0
    if distributed:
        any_pairs = torch.tensor([float(learn)], device=accelerator.device)
        torch.distributed.all_reduce(any_pairs)
        learn = bool(any_pairs.item() > 0)
    accumulate = (lambda: accelerator.no_sync(model)) if distributed else nullcontext
    per_micro = max(1, optim.micro_batch_size // 2)
    chunks = [pairs[i: i + per_micro] for i in range(0, len(pairs), per_micro)]
    totals = {"loss": 0.0, "chosen": 0.0, "rejected": 0.0, "correct": 0.0, "tokens": 0.0}
    grad_norms = []
    for epoch in range(alg.update_epochs):
        for chunk in chunks:
            rows = torch.tensor([r for pair in chunk for r in pair])  # chosen, rejected, chosen, ...
            with accumulate():
                logp_R, tokens = _pair_logps(model, batch, rows, alg.dpo_length_normalize,
                                             optim.share_prompt_forward, accelerator.autocast, grad=True)
                ref_logp_R, _ = _pair_logps(ref_model, batch, rows, alg.dpo_length_normalize,
                                            optim.share_prompt_forward, accelerator.autocast, grad=False)
                ref_logp_R = ref_logp_R.to(logp_R.device)
                loss_N, chosen_N, rejected_N = dpo_loss(logp_R[0::2], logp_R[1::2], ref_logp_R[0::2],
                                                        ref_logp_R[1::2], alg.dpo_beta, alg.dpo_loss)
                accelerator.backward(loss_N.sum() / len(pairs))
            if epoch == 0:  # before this step's updates: the margins the pairs came with
                totals["loss"] += float(loss_N.detach().sum())
                totals["chosen"] += float(chosen_N.sum())
                totals["rejected"] += float(rejected_N.sum())
                totals["correct"] += float((chosen_N > rejected_N).float().sum())
                totals["tokens"] += tokens
        if not learn:
            grad_norms.append(float("nan"))
            continue
        grad_norms.append(reduce_clip_step(model, optimizer, optim.max_grad_norm, accelerator, sharded=False))
    n = len(pairs)
    nan = float("nan")
    return {"dpo/pairs": float(n), "dpo/loss": totals["loss"] / n if n else nan,
            "dpo/chosen_reward": totals["chosen"] / n if n else nan,
            "dpo/rejected_reward": totals["rejected"] / n if n else nan,
            "dpo/margin": (totals["chosen"] - totals["rejected"]) / n if n else nan,
            "dpo/accuracy": totals["correct"] / n if n else nan,
            "loss/grad_norm": sum(grad_norms) / len(grad_norms), "loss/tokens": totals["tokens"]}


def online_dpo_update(model, ref_model, optimizer, batch, rewards_B, loss_mask_BT, config, accelerator,
                      use_importance_correction: bool = False, group_size: int = 2) -> dict:
    """The online DPO step, called where GRPO calls policy_update: pairs from each group's rewards (rows without
    a loss token left out), then the DPO loss against the frozen reference."""
    eligible_B = loss_mask_BT.sum(dim=1) > 0
    pairs = select_pairs(rewards_B, group_size, config.algorithm.dpo_pairs_per_group, eligible_B)
    return dpo_pair_update(model, ref_model, optimizer, batch, pairs, config, accelerator)


# ---------------------------------------------------------------- offline DPO from a preference file


def load_preferences(path: str | Path) -> list:
    """Rows {"prompt", "chosen", "rejected"} (strings) from a JSONL file, or a local folder / hub dataset with
    those columns (datasets' load_dataset, split `train`). A row missing a field, or with a non-string one
    (e.g. a list of chat messages), raises an error naming the row and what to do."""
    path = str(path)
    if Path(path).is_file():
        rows = []
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}: line {number} is not JSON ({error.msg})") from None
    elif path.endswith((".json", ".jsonl")) or path.startswith((".", "/", "~")) and not Path(path).is_dir():
        raise ValueError(f"preference file {path}: no such file (expected JSONL rows with prompt, chosen, rejected)")
    else:
        from datasets import load_dataset

        rows = list(load_dataset(path, split="train"))
    for number, row in enumerate(rows, 1):
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(row.get(key), str):
                raise ValueError(f"{path}: row {number} has no string {key!r} (got {type(row.get(key)).__name__}); "
                                 "a preference row is {\"prompt\": str, \"chosen\": str, \"rejected\": str} with "
                                 "the completions without the prompt (render chat messages to text first)")
    if not rows:
        raise ValueError(f"{path}: no preference rows")
    return rows


class _Text:
    """A completion-shaped record (what build_batch reads) for a fixed text."""

    def __init__(self, prompt_index, token_ids):
        self.prompt_index, self.token_ids, self.logprobs, self.finish_reason = prompt_index, token_ids, None, "stop"


def preference_batch(tokenizer, rows: list):
    """A RolloutBatch of 2N rows (chosen_0, rejected_0, chosen_1, ...) for N preference rows, each pair sharing
    its prompt; the completions end with the end-of-text token, as generated ones do. Returns (batch, pairs)."""
    prompt_ids, completions = [], []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for index, row in enumerate(rows):
        prompt_ids.append(tokenizer(row["prompt"], add_special_tokens=False)["input_ids"])
        for key in ("chosen", "rejected"):
            completions.append(_Text(index, tokenizer(row[key], add_special_tokens=False)["input_ids"] + eos))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    pairs = [(2 * i, 2 * i + 1) for i in range(len(rows))]
    return build_batch(prompt_ids, completions, pad_id), pairs


@torch.no_grad()
def preference_margins(model, ref_model, tokenizer, rows: list, config, batch_size: int = 32) -> dict:
    """Implicit-reward margin and accuracy of `model` against `ref_model` on preference rows (no update)."""
    margins, correct = [], 0
    for start in range(0, len(rows), batch_size):
        batch, pairs = preference_batch(tokenizer, rows[start: start + batch_size])
        rows_R = torch.arange(len(batch))
        logp_R, _ = _pair_logps(model, batch, rows_R, config.algorithm.dpo_length_normalize, True, nullcontext,
                                grad=False)
        ref_R, _ = _pair_logps(ref_model, batch, rows_R, config.algorithm.dpo_length_normalize, True, nullcontext,
                               grad=False)
        _, chosen_N, rejected_N = dpo_loss(logp_R[0::2], logp_R[1::2], ref_R[0::2], ref_R[1::2],
                                           config.algorithm.dpo_beta, config.algorithm.dpo_loss)
        margins += (chosen_N - rejected_N).tolist()
        correct += int((chosen_N > rejected_N).sum())
    return {"margin": sum(margins) / len(margins), "accuracy": correct / len(margins), "n": len(margins)}


def train_offline_dpo(model, tokenizer, rows: list, config, eval_rows: list = (), log=print) -> list:
    """Offline DPO: `config.run.steps` optimizer steps over shuffled preference rows, `run.prompts_per_step`
    pairs each, through the same dpo_pair_update as online DPO; returns the per-step metrics."""
    import copy
    import random

    from accelerate import Accelerator

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    optim = config.optim
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim.lr, betas=tuple(optim.betas),
                                  weight_decay=optim.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    ref_model.to(accelerator.device)
    order, rng, history = [], random.Random(config.run.seed), []
    for step in range(1, config.run.steps + 1):
        if len(order) < config.run.prompts_per_step:
            epoch = list(range(len(rows)))
            rng.shuffle(epoch)
            order += epoch
        take, order = order[: config.run.prompts_per_step], order[config.run.prompts_per_step:]
        batch, pairs = preference_batch(tokenizer, [rows[i] for i in take])
        metrics = dict(dpo_pair_update(model, ref_model, optimizer, batch, pairs, config, accelerator), step=step)
        if eval_rows and (step == config.run.steps or (config.run.eval_every and step % config.run.eval_every == 0)):
            held_out = preference_margins(accelerator.unwrap_model(model), ref_model, tokenizer, list(eval_rows),
                                          config)
            metrics.update({f"eval/{k}": v for k, v in held_out.items()})
        history.append(metrics)
        log(json.dumps(metrics))
    return history
