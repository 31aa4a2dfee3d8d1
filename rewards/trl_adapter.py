"""Reward functions written for TRL's GRPOTrainer, used as zero-rl rewards (`task.options.extra_rewards`).

TRL calls a reward function once per batch: `f(prompts=..., completions=..., **columns) -> list[float | None]`,
with every dataset column (here: every key of the task's example dicts, e.g. `answer`, `question`, `id`) as a
keyword argument holding one value per completion, and `None` meaning "this reward does not apply to this
completion" (TRL docs, "Using a custom reward function"). Prompts and completions are plain strings, or, in
conversational form (here: `prompt_format: chat`), lists of messages: the prompt's chat turns and
`[{"role": "assistant", "content": completion}]`.

The engine (zero_rl.scoring) calls a reward marked `batched` once per batch, in the training process. A `None`
scores 0 (it adds nothing to the weighted total, as TRL's nansum) and is counted in
`reward/<name>/not_applicable`; an exception, a wrong-length result or a non-number scores the batch (or that
completion) 0 and is counted in `reward/<name>/errors` and logged, as for every reward.
Not passed (zero-rl does not have them where rewards run): `completion_ids`, `trainer_state`, `log_metric`.
"""

import importlib
import inspect

from zero_rl.task_options import ChatPrompt


def load_function(path: str):
    """'package.module:function' (or 'package.module.function') -> the function; errors say what to fix."""
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"extra_rewards: {path!r} is not an import path; write 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"extra_rewards: cannot import module {module_name!r} for {path!r}: {error}") from error
    function = module
    for part in attribute.split("."):
        if not hasattr(function, part):
            raise ValueError(f"extra_rewards: module {module_name!r} has no {attribute!r} (for {path!r})")
        function = getattr(function, part)
    if not callable(function):
        raise ValueError(f"extra_rewards: {path!r} is a {type(function).__name__}, not a function")
    return function


class TRLReward:
    """One TRL reward function as a batched zero-rl reward: score_batch(completions, examples) -> [float | None]."""

    batched = True

    def __init__(self, function, prompt_fn=None, conversational: bool = False, name: str | None = None):
        self.function = function
        self.prompt_fn = prompt_fn
        self.conversational = conversational
        self.name = name or getattr(function, "__name__", "reward")
        parameters = inspect.signature(function).parameters.values()
        self.takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
        self.accepted = {p.name for p in parameters}

    def _prompts(self, examples: list) -> list | None:
        if self.prompt_fn is None:
            return None
        if self.conversational and isinstance(self.prompt_fn, ChatPrompt):
            return [self.prompt_fn.messages(e) for e in examples]
        return [getattr(self.prompt_fn, "base", self.prompt_fn)(e) for e in examples]

    def kwargs(self, completions: list, examples: list) -> dict:
        """TRL's call: prompts, completions, one list per example column (columns absent from some rows: None)."""
        if self.conversational:
            completions = [[{"role": "assistant", "content": c}] for c in completions]
        out = {"completions": completions}
        prompts = self._prompts(examples)
        if prompts is not None:
            out["prompts"] = prompts
        for column in dict.fromkeys(k for e in examples for k in e):
            if column not in ("prompts", "completions", "prompt", "completion"):
                out[column] = [e.get(column) for e in examples]
        if not self.takes_any:  # a function without **kwargs gets only what it names
            out = {k: v for k, v in out.items() if k in self.accepted}
        return out

    def score_batch(self, completions: list, examples: list) -> list:
        """[float | None] per completion; raises ValueError when the function's result is not one value each."""
        values = self.function(**self.kwargs(completions, examples))
        values = list(values) if values is not None else None
        if values is None or len(values) != len(completions):
            raise ValueError(f"returned {'None' if values is None else f'{len(values)} values'} for "
                             f"{len(completions)} completions (TRL reward functions return one value per completion)")
        return values

    def __call__(self, completion: str, example: dict):
        """One completion (for callers that score one at a time): the batch of one's value, None included."""
        return self.score_batch([completion], [example])[0]


def trl_rewards(spec: dict, prompt_fn=None, conversational: bool = False) -> dict:
    """{"pkg.mod:f": weight, ...} -> {reward name: (TRLReward, weight)}; the name is the function's name."""
    if not isinstance(spec, dict):
        raise ValueError(f"extra_rewards must map 'package.module:function' to a weight, got {spec!r}")
    out = {}
    for path, weight in spec.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ValueError(f"extra_rewards: the weight of {path!r} must be a number, got {weight!r}")
        reward = TRLReward(load_function(path), prompt_fn, conversational)
        if reward.name in out:
            raise ValueError(f"extra_rewards: two functions named {reward.name!r}; reward names must differ")
        out[reward.name] = (reward, float(weight))
    return out
