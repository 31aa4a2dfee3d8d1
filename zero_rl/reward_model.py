"""A learned reward model: a reward term scored on the trainer's device, and its Bradley-Terry training.

- `RewardModelTerm`: an AutoModelForSequenceClassification with num_labels=1 reads prompt + completion and its
  one logit is the score. It runs batched on the trainer's device (not in the CPU scorer pool: a model per
  worker process would not fit), optionally standardised over the step's batch, and joins the task's rewards as
  the component `reward_model` with its weight (logged as reward/reward_model like any reward).
- The same term as a learned process reward model (PRM): with `process_separator`, the completion is cut into
  steps at each separator and the model scores every prefix prompt + completion[:end of step]; the scores are
  step scores (zero_rl/process_rewards.py: GRPO's process advantage, PPO's token rewards), the hook for a PRM
  trained to score partial solutions (Math-Shepherd, PRM800K style).
- `bradley_terry_loss`: -log sigmoid(r(chosen) - r(rejected)), the pairwise loss of InstructGPT's reward model
  (Ouyang et al. 2022); `train_reward_model` fits it on preference pairs and reports held-out pairwise accuracy
  (`zero-rl train-rm`).
"""

import json
import random

import torch
import torch.nn.functional as F

COMPONENT = "reward_model"


def load_reward_model(name_or_path: str, device="cpu"):
    """(model, tokenizer) of a sequence-classification reward model with one label, in eval mode on `device`.
    A causal-LM checkpoint loads too (with a fresh score head): that is how `train-rm` starts."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(name_or_path, num_labels=1)
    if model.config.num_labels != 1:
        raise ValueError(f"reward model {name_or_path}: has {model.config.num_labels} labels; a reward model "
                         "needs num_labels=1 (one score per text)")
    _set_padding(model, tokenizer)
    return model.to(device), tokenizer


def _set_padding(model, tokenizer) -> None:
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model.config.pad_token_id = tokenizer.pad_token_id  # the classifier reads the last non-pad token


def sequence_scores(model, tokenizer, texts: list, batch_size: int = 32, grad: bool = False) -> torch.Tensor:
    """One score per text, float32 [N], on the model's device, in batches."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(texts[start: start + batch_size], return_tensors="pt", padding=True,
                            add_special_tokens=False)
        with torch.set_grad_enabled(grad):
            logits = model(input_ids=encoded["input_ids"].to(device),
                           attention_mask=encoded["attention_mask"].to(device)).logits
        out.append(logits[:, 0].float())
    return torch.cat(out) if out else torch.zeros(0)


class RewardModelTerm:
    """The reward model as a reward term: `add_to(scores, prompts, completions)` returns the Scores with the
    component `reward_model` (weight x score, standardised first when `normalize`) added to total_B."""

    def __init__(self, model, tokenizer, weight: float = 1.0, batch_size: int = 32, normalize: bool = False,
                 process_separator: str | None = None):
        self.model, self.tokenizer = model.eval().requires_grad_(False), tokenizer
        self.weight, self.batch_size, self.normalize = weight, batch_size, normalize
        if process_separator == "":
            raise ValueError("reward_model.process_separator must be a non-empty string or null")
        self.process_separator = process_separator
        _set_padding(self.model, tokenizer)

    @classmethod
    def from_config(cls, config, device) -> "RewardModelTerm | None":
        """From the `reward_model` config section; None when it names no model."""
        if not config.name_or_path:
            return None
        model, tokenizer = load_reward_model(config.name_or_path, device)
        return cls(model, tokenizer, config.weight, config.batch_size, config.normalize,
                   getattr(config, "process_separator", None))

    def scores(self, prompts: list, completions: list) -> list:
        raw_N = sequence_scores(self.model, self.tokenizer, [p + c for p, c in zip(prompts, completions)],
                                self.batch_size).cpu()
        if self.normalize and len(raw_N) > 1:
            raw_N = (raw_N - raw_N.mean()) / (raw_N.std() + 1e-6)
        return raw_N.tolist()

    def step_scores(self, prompts: list, completions: list) -> list:
        """Process mode: per completion, ((end_char_offset, score), ...) with a step ending before each separator
        and one at the end (a completion without a separator is one step)."""
        texts, owners = [], []
        for row, (prompt, completion) in enumerate(zip(prompts, completions)):
            for end in step_ends(completion, self.process_separator):
                texts.append(prompt + completion[:end])
                owners.append((row, end))
        raw_N = sequence_scores(self.model, self.tokenizer, texts, self.batch_size).cpu()
        if self.normalize and len(raw_N) > 1:
            raw_N = (raw_N - raw_N.mean()) / (raw_N.std() + 1e-6)
        out = [[] for _ in completions]
        for (row, end), value in zip(owners, raw_N.tolist()):
            out[row].append((end, value))
        return [tuple(steps) for steps in out]

    def add_to(self, scores, prompts: list, completions: list):
        if COMPONENT in scores.components:
            raise ValueError(f"the task already has a reward named {COMPONENT!r}; rename it to use reward_model")
        if self.process_separator is not None:  # step scores, weighted here (the task's weights do not name it)
            steps = self.step_scores(prompts, completions)
            scores.components[COMPONENT] = [sum(v for _, v in s) / len(s) for s in steps]
            scores.steps[COMPONENT] = [tuple((end, self.weight * v) for end, v in s) for s in steps]
            return scores
        values = self.scores(prompts, completions)
        scores.components[COMPONENT] = values
        scores.total_B = [total + self.weight * value for total, value in zip(scores.total_B, values)]
        return scores


def step_ends(completion: str, separator: str) -> list:
    """End offsets of the steps of `completion` cut at `separator` (each step ends where a separator starts;
    empty steps are skipped), and always the completion's end: "a = b = c", " = " -> [1, 5, 9]."""
    ends, start = [], 0
    while True:
        found = completion.find(separator, start)
        if found < 0:
            break
        if completion[start:found].strip():
            ends.append(found)
        start = found + len(separator)
    if not ends or ends[-1] != len(completion):
        ends.append(len(completion))
    return ends


# ---------------------------------------------------------------- training (zero-rl train-rm)


def bradley_terry_loss(chosen_N: torch.Tensor, rejected_N: torch.Tensor) -> torch.Tensor:
    """mean(-log sigmoid(r_chosen - r_rejected)) over N pairs."""
    return -F.logsigmoid(chosen_N - rejected_N).mean()


def pairwise_accuracy(model, tokenizer, pairs: list, batch_size: int = 32) -> float:
    """Share of pairs whose chosen text scores strictly higher than the rejected one."""
    chosen = sequence_scores(model, tokenizer, [p["prompt"] + p["chosen"] for p in pairs], batch_size)
    rejected = sequence_scores(model, tokenizer, [p["prompt"] + p["rejected"] for p in pairs], batch_size)
    return float((chosen > rejected).float().mean())


def split_pairs(rows: list, eval_share: float, seed: int) -> tuple:
    """(train, held_out): a seeded shuffle, the last `eval_share` held out (at least one row when eval_share > 0)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held = max(1, round(eval_share * len(rows))) if eval_share > 0 else 0
    if held >= len(rows):
        raise ValueError(f"{len(rows)} preference rows leave none for training with eval_share={eval_share}")
    return [rows[i] for i in order[: len(rows) - held]], [rows[i] for i in order[len(rows) - held:]]


def train_reward_model(model, tokenizer, train_pairs: list, eval_pairs: list, epochs: int = 1, lr: float = 1e-4,
                       batch_size: int = 16, seed: int = 0, max_grad_norm: float = 1.0, log=print) -> list:
    """Bradley-Terry training with AdamW over `epochs` passes of shuffled pairs; held-out pairwise accuracy
    after each epoch. Returns one metrics dict per epoch."""
    _set_padding(model, tokenizer)
    model.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = random.Random(seed)
    history = []
    for epoch in range(1, epochs + 1):
        order = list(range(len(train_pairs)))
        rng.shuffle(order)
        losses, correct = [], 0
        for start in range(0, len(order), batch_size):
            chunk = [train_pairs[i] for i in order[start: start + batch_size]]
            texts = [p["prompt"] + p["chosen"] for p in chunk] + [p["prompt"] + p["rejected"] for p in chunk]
            scores_N = sequence_scores(model, tokenizer, texts, batch_size=len(texts), grad=True)
            chosen_N, rejected_N = scores_N[: len(chunk)], scores_N[len(chunk):]
            loss = bradley_terry_loss(chosen_N, rejected_N)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            losses.append(float(loss.detach()))
            correct += int((chosen_N > rejected_N).sum())
        model.eval()
        metrics = {"epoch": epoch, "train/loss": sum(losses) / len(losses),
                   "train/accuracy": correct / len(train_pairs)}
        if eval_pairs:
            metrics["eval/accuracy"] = pairwise_accuracy(model, tokenizer, eval_pairs, batch_size)
        model.train()
        history.append(metrics)
        log(json.dumps(metrics))
    model.eval()
    return history
