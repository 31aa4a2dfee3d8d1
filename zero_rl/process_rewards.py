"""Process rewards: a reward that scores each step of a chain of thought, not only the outcome.

A reward returns step scores `[(end_char_offset, score), ...]` instead of one float (checked by
zero_rl.scoring.reward_value). Here they become token positions and then advantages:

- `step_token_positions`: a step ending at character c of the completion's text ends at the first token whose
  decoded prefix reaches c (a step whose end falls on a token boundary ends at the token before it; one ending
  inside a multi-character token ends at that token).
- GRPO (DeepSeekMath, Shao et al. 2024, §4.1.3, "process supervision"): the step rewards of a group are
  normalised by the mean and std of all step rewards in the group, r~ = (r - mean(R)) / std(R), and the
  advantage of token t is the sum of the normalised rewards of the steps ending at or after t:
  A_t = sum_{j: index(j) >= t} r~_j. The outcome rewards (the task's other rewards) keep their group-relative
  advantage, added to every token (outcome + process, as PRIME, Cui et al. 2025, combines them).
- PPO: the weighted step scores are token-level rewards added to the outcome reward before GAE.
"""

import torch


def step_token_positions(end_chars: list, token_ids: list, tokenizer) -> list:
    """Token index (in `token_ids`) at which each step ends: for end c, the smallest k with
    len(decode(token_ids[:k + 1])) >= c (clamped to the last token; an offset of 0 maps to token 0).
    Binary search over decoded prefixes, decoded as the generator decodes completions."""
    n = len(token_ids)
    if n == 0:
        return []
    cache = {}

    def prefix_length(k: int) -> int:  # characters decoded from the first k tokens
        if k not in cache:
            cache[k] = len(tokenizer.decode(token_ids[:k], skip_special_tokens=True))
        return cache[k]

    positions = []
    for end in end_chars:
        low, high = 1, n  # find the smallest k in [1, n] with prefix_length(k) >= end, else n
        while low < high:
            middle = (low + high) // 2
            if prefix_length(middle) >= end:
                high = middle
            else:
                low = middle + 1
        positions.append(low - 1)
    return positions


def step_rewards(scores, rewards: dict, completions: list, tokenizer) -> list | None:
    """Per completion, its weighted step rewards as [(token_index, reward), ...] over every process reward of
    `scores` (reward weight x step score), or None when no reward returned step scores."""
    if not scores.steps:
        return None
    out = []
    for row, completion in enumerate(completions):
        steps = []
        for name, lists in scores.steps.items():
            weight = rewards[name][1] if name in rewards else 1.0
            pairs = lists[row]
            positions = step_token_positions([end for end, _ in pairs], completion.token_ids, tokenizer)
            steps.extend((t, weight * score) for t, (_, score) in zip(positions, pairs))
        out.append(steps)
    return out


def process_advantages(steps_B: list, group_size: int, width_T: int, std_eps: float = 1e-4) -> torch.Tensor:
    """DeepSeekMath process supervision -> adv_BT. steps_B[i] = [(token_index, reward), ...] for completion i,
    prompt-major in groups of `group_size`. Each step reward is normalised by the mean and (unbiased) std of all
    step rewards of its group (std 0 with fewer than two); token t gets the sum of the normalised rewards of its
    completion's steps with token_index >= t."""
    if len(steps_B) % group_size:
        raise ValueError(f"{len(steps_B)} completions do not split into groups of {group_size}")
    normalised_BT = torch.zeros(len(steps_B), width_T, dtype=torch.float64)
    for start in range(0, len(steps_B), group_size):
        group = steps_B[start: start + group_size]
        values = torch.tensor([r for steps in group for _, r in steps], dtype=torch.float64)
        if len(values) == 0:
            continue
        mean = values.mean()
        std = values.std() if len(values) > 1 else torch.zeros((), dtype=torch.float64)
        for offset, steps in enumerate(group):
            for t, r in steps:
                normalised_BT[start + offset, t] += (r - mean) / (std + std_eps)
    # sum over steps at or after t: a reversed cumulative sum along the tokens
    return normalised_BT.flip(1).cumsum(1).flip(1).float()


def token_rewards_BT(steps_B: list, width_T: int) -> torch.Tensor:
    """PPO: the step rewards placed on their end tokens, [B, T] (summed where steps share a token)."""
    rewards_BT = torch.zeros(len(steps_B), width_T)
    for row, steps in enumerate(steps_B):
        for t, r in steps:
            rewards_BT[row, t] += r
    return rewards_BT


def grpo_process_advantages(rewards_B, steps_B: list, group_size: int, mask_BT, advantage_fn,
                            std_eps: float = 1e-4) -> tuple:
    """GRPO with process rewards -> (adv_BT, zero_std_P, metrics): the outcome advantage of `advantage_fn` on
    rewards_B (the non-process rewards) on every token, plus the process advantage; a group carries no signal
    only when its outcome rewards and its step rewards are all equal."""
    from zero_rl.advantages import zero_std_groups

    outcome_B = advantage_fn(rewards_B, group_size, std_eps=std_eps)
    process_BT = process_advantages(steps_B, group_size, mask_BT.shape[1], std_eps)
    advantages_BT = (outcome_B.unsqueeze(1) + process_BT) * mask_BT
    group_values = [[r for steps in steps_B[i: i + group_size] for _, r in steps]
                    for i in range(0, len(steps_B), group_size)]
    steps_flat_P = torch.tensor([all(r == values[0] for r in values) for values in group_values])
    all_values = [r for values in group_values for r in values]
    zero_std_P = zero_std_groups(rewards_B, group_size) & steps_flat_P
    valid = mask_BT.sum()
    mean = float((advantages_BT * mask_BT).sum() / valid.clamp(min=1))
    metrics = {"advantages/mean": mean,
               "advantages/std": max(float((advantages_BT ** 2 * mask_BT).sum() / valid.clamp(min=1)) - mean ** 2,
                                     0.0) ** 0.5,
               "advantages/process_abs_mean": float((process_BT.abs() * mask_BT).sum() / valid.clamp(min=1)),
               "process/steps_mean": sum(len(s) for s in steps_B) / max(len(steps_B), 1),
               "process/step_reward_mean": sum(all_values) / max(len(all_values), 1)}
    return advantages_BT, zero_std_P, metrics
