"""DAPO dynamic sampling (Yu et al. 2025, arXiv:2503.14476, section 3.2): a step trains on groups whose rewards
differ; groups whose G rewards are all equal (all right, all wrong) have zero advantage and are replaced by
groups from further prompts, generated in rounds of run.prompts_per_step prompts, until the step holds
prompts_per_step informative groups or `max_generation_rounds` rounds are spent (then an error: check your data).
As verl's DAPO recipe (`algorithm.filter_groups`, max_num_gen_batches), the surplus of the last round is cut.

The filter is on the total reward (the advantages' input), overlong shaping included; verl's recipe filters on a
chosen metric (accuracy in its example). Under DDP every rank generates its share of each round; the ranks
all-gather their counts of informative groups after each round and stop when every rank holds its share
(prompts_per_step / processes), so all run the same rounds and train on equal batches. The data position after a step is the number of
rounds consumed so far (a block of prompts_per_step prompts each); the checkpoint stores it.
"""

from dataclasses import dataclass

import torch

from zero_rl.advantages import zero_std_groups
from zero_rl.scoring import Scores


class DynamicSamplingError(RuntimeError):
    """Too few groups with a learning signal after the round limit."""


@dataclass
class Rollout:
    """One rank's prompts and their scored completions (completions prompt-major, G per prompt)."""

    examples_P: list
    prompt_ids: list
    completions: list
    scores: Scores


def select_groups(rollout: Rollout, keep_P: list) -> Rollout:
    """The rollout restricted to the prompts i with keep_P[i], completions renumbered to the kept prompts."""
    new_index = {}
    for old, keep in enumerate(keep_P):
        if keep:
            new_index[old] = len(new_index)
    rows = [i for i, c in enumerate(rollout.completions) if c.prompt_index in new_index]
    completions = [_renumbered(rollout.completions[i], new_index[rollout.completions[i].prompt_index]) for i in rows]
    scores = rollout.scores
    return Rollout(examples_P=[e for e, keep in zip(rollout.examples_P, keep_P) if keep],
                   prompt_ids=[p for p, keep in zip(rollout.prompt_ids, keep_P) if keep],
                   completions=completions,
                   scores=Scores(total_B=[scores.total_B[i] for i in rows],
                                 components={k: [v[i] for i in rows] for k, v in scores.components.items()},
                                 errors=dict(scores.errors), timeouts=dict(scores.timeouts)))


def _renumbered(completion, prompt_index: int):
    import dataclasses

    return dataclasses.replace(completion, prompt_index=prompt_index)


def concat_rollouts(rollouts: list) -> Rollout:
    """One rollout from several rounds; error and timeout counts are summed over every round (all were scored)."""
    examples, prompts, completions, total, components, errors, timeouts = [], [], [], [], {}, {}, {}
    for part in rollouts:
        offset = len(prompts)
        examples += part.examples_P
        prompts += part.prompt_ids
        completions += [_renumbered(c, c.prompt_index + offset) for c in part.completions]
        total += part.scores.total_B
        for name, values in part.scores.components.items():
            components.setdefault(name, []).extend(values)
        for source, target in ((part.scores.errors, errors), (part.scores.timeouts, timeouts)):
            for name, count in source.items():
                target[name] = target.get(name, 0) + count
    return Rollout(examples, prompts, completions, Scores(total, components, errors, timeouts))


def sample_informative_groups(generate_round, first_block: int, per_rank: int, group_size: int, max_rounds: int,
                              gather_counts=lambda n: [n]) -> tuple:
    """Run `generate_round(block) -> Rollout` for blocks first_block, first_block + 1, ... keeping this rank's
    groups whose rewards differ, until every rank holds `per_rank` of them; each rank keeps its first `per_rank`.

    gather_counts(int) -> list of every rank's int (an all-gather; [n] in one process): the stop decision is taken
    on the gathered counts, so every rank runs the same number of rounds (its collectives stay matched) and every
    rank trains on the same number of groups.
    Returns (rollout of `per_rank` informative groups, rounds used, metrics of all ranks together).
    Raises DynamicSamplingError after `max_rounds` rounds with too few informative groups."""
    kept, informative_R, generated = [], None, 0
    for round_index in range(max_rounds):
        rollout = generate_round(first_block + round_index)
        rewards_B = torch.tensor(rollout.scores.total_B, dtype=torch.float)
        informative_P = (~zero_std_groups(rewards_B, group_size)).tolist() if len(rewards_B) else []
        kept.append(select_groups(rollout, informative_P))
        counts = gather_counts(sum(informative_P))
        generated += len(informative_P) * len(counts)
        informative_R = counts if informative_R is None else [a + b for a, b in zip(informative_R, counts)]
        if min(informative_R) >= per_rank:
            break
    else:
        world = len(informative_R)
        raise DynamicSamplingError(
            f"dynamic sampling: after algorithm.max_generation_rounds={max_rounds} generation rounds "
            f"({generated} prompts) only {sum(min(n, per_rank) for n in informative_R)} of the {per_rank * world} "
            f"prompts a step needs had completions with different rewards; in every other group all {group_size} "
            f"completions got the same reward. Check your data: the task may be too hard or too easy for this "
            f"model (accuracy all 0 or all 1), or the answer is never extracted (format); or raise "
            f"algorithm.max_generation_rounds or generation.group_size")
    merged = concat_rollouts(kept)
    rounds, informative = round_index + 1, sum(informative_R)
    metrics = {"dynamic_sampling/rounds": rounds, "dynamic_sampling/generated_groups": generated,
               "dynamic_sampling/kept_groups": per_rank * len(informative_R),
               "dynamic_sampling/discarded_groups": generated - informative,
               "dynamic_sampling/surplus_groups": informative - per_rank * len(informative_R)}
    return select_groups(merged, [i < per_rank for i in range(len(merged.prompt_ids))]), rounds, metrics
