"""Held-out evaluation."""

from zero_rl.generation import SamplingParams
from zero_rl.scoring import score_inline


def greedy_eval(generator, tokenizer, task, examples: list, max_new_tokens: int, prompt_suffix: str = "") -> dict:
    """Greedy accuracy and format rate of the generator's current model on `examples`.

    `prompt_suffix` is appended to every prompt (e.g. " <think>" for the pre-filled control).
    """
    prompts = [task.prompt(e) + prompt_suffix for e in examples]
    prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    completions = generator.generate(prompt_ids, SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens))
    scored_examples = [dict(e, think_prefilled=prompt_suffix.strip().endswith("<think>")) for e in examples]
    scores = score_inline(task.rewards, [c.text for c in completions], scored_examples)
    out = {"accuracy": sum(scores.components[task.accuracy]) / len(examples), "n": len(examples)}
    if task.format:
        out["format"] = sum(scores.components[task.format]) / len(examples)
    out["mean_length"] = sum(len(c.token_ids) for c in completions) / len(completions)
    return out
