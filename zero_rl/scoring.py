"""Score a batch of completions with a task's weighted rewards.

Every reward error is caught, scored 0 and counted per reward (`reward/<name>/errors`), never silently.
"""

import logging
from dataclasses import dataclass, field

log = logging.getLogger("zero_rl.scoring")


@dataclass
class Scores:
    total_B: list  # weighted sum per completion
    components: dict  # reward name -> list of per-completion scores
    errors: dict = field(default_factory=dict)  # reward name -> count of completions whose reward raised
    timeouts: dict = field(default_factory=dict)  # reward name -> count of completions whose reward timed out

    def metrics(self) -> dict:
        out = {}
        for name, values in self.components.items():
            out[f"reward/{name}"] = sum(values) / max(len(values), 1)
            out[f"reward/{name}/errors"] = self.errors.get(name, 0)
            out[f"reward/{name}/timeouts"] = self.timeouts.get(name, 0)
        return out


def _safe_call(name, fn, completion, example, errors):
    try:
        value = float(fn(completion, example))
    except Exception as error:  # a reward bug or bad input: a counted, logged zero
        errors[name] = errors.get(name, 0) + 1
        log.warning("reward %r raised %s: %s (example id %r); scored 0", name, type(error).__name__, error,
                    example.get("id"))
        return 0.0
    if value != value:  # NaN
        errors[name] = errors.get(name, 0) + 1
        log.warning("reward %r returned NaN (example id %r); scored 0", name, example.get("id"))
        return 0.0
    return value


def score_inline(rewards: dict, completions: list, examples: list) -> Scores:
    """Score in this process: rewards is {name: (fn, weight)}; examples[i] belongs to completions[i]."""
    if len(completions) != len(examples):
        raise ValueError(f"{len(completions)} completions but {len(examples)} examples")
    errors, components = {}, {}
    for name, (fn, _weight) in rewards.items():
        components[name] = [_safe_call(name, fn, c, e, errors) for c, e in zip(completions, examples)]
    total_B = [sum(rewards[name][1] * components[name][i] for name in rewards) for i in range(len(completions))]
    return Scores(total_B=total_B, components=components, errors=errors, timeouts={})
