"""DAPO's overlong reward shaping (Yu et al. 2025, arXiv:2503.14476, Eq. 13): a soft length penalty added to the
task reward, so a completion running into the length limit loses reward before it is cut.

    R_len(y) = 0                                  |y| <= L_max - L_cache
               ((L_max - L_cache) - |y|) / L_cache  L_max - L_cache < |y| <= L_max
               -1                                  |y| > L_max

times a penalty factor (verl overlong_buffer.penalty_factor; TRL get_soft_overlong_punishment). |y| is counted
in tokens (the end-of-text token included), which a text reward `(completion, example)` cannot see, so this term
is added by the trainer from the completions' token counts when `task.overlong_buffer > 0`, as the reward
component 'overlong' (weight 1), before advantages and dynamic sampling.
"""

import dataclasses

from zero_rl.scoring import Scores


def soft_overlong_penalty(length: int, max_length: int, buffer: int, factor: float = 1.0) -> float:
    """R_len of one completion of `length` tokens, in [-factor, 0]."""
    if buffer <= 0 or buffer >= max_length:
        raise ValueError(f"overlong buffer must be in (0, max_length={max_length}), got {buffer}")
    expected = max_length - buffer
    if length <= expected:
        return 0.0
    if length > max_length:
        return -factor
    return factor * (expected - length) / buffer


def add_overlong_term(scores: Scores, lengths: list, max_length: int, buffer: int, factor: float = 1.0) -> Scores:
    """`scores` with the component 'overlong' added to each completion's total (lengths[i]: tokens of completion i)."""
    if len(lengths) != len(scores.total_B):
        raise ValueError(f"{len(lengths)} lengths for {len(scores.total_B)} scored completions")
    if "overlong" in scores.components:
        raise ValueError("the task already has a reward named 'overlong'; rename it to use task.overlong_buffer")
    penalties = [soft_overlong_penalty(n, max_length, buffer, factor) for n in lengths]
    return dataclasses.replace(scores, total_B=[t + p for t, p in zip(scores.total_B, penalties)],  # keeps steps
                               components={**scores.components, "overlong": penalties},
                               errors=dict(scores.errors), timeouts=dict(scores.timeouts))
