"""The embedded base model: a tiny Qwen2-architecture LM pretrained here, only by next-token prediction, on a
synthetic arithmetic "web" corpus. It stands in for a downloaded base model so the quickstart runs anywhere.

The corpus imitates what a web-pretrained base model has seen: mostly plain prose answers ("The answer is 33"),
some worked steps, a minority in the R1 `<think>…</think> <answer>…</answer>` style, and a share of worked
solutions with one wrong step. There is no SFT and no reward signal in pretraining; RL has to discover that the
tagged, worked style is what gets rewarded. Only train-split expressions appear in the corpus.
"""

import hashlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tasks.arithmetic import random_expression, render, split_of, steps
from zero_rl.task import r1_zero_prompt

EOS = "<|endoftext|>"
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]


@dataclass(frozen=True)
class BaseModelRecipe:
    """Everything that determines the embedded base model; its hash names the cache folder."""

    vocab_size: int = 640
    hidden_size: int = 128
    intermediate_size: int = 512
    num_layers: int = 3
    num_heads: int = 4
    num_kv_heads: int = 2
    seq_len: int = 256
    batch_size: int = 32
    steps: int = 1200
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    seed: int = 1234
    bf16: bool = True  # autocast matmuls to bfloat16 (fp32 master weights): about 2x faster on CPUs with AMX
    # corpus mixture (shares of documents)
    share_plain: float = 0.50  # no template: worksheets of short texts, "3 + 4 * 2 = 3 + 8 = 11"
    worksheet_max: int = 8  # texts per worksheet (at least 3)
    share_tagged: float = 0.09  # template + <think> steps </think> <answer> n </answer>
    share_worked_prose: float = 0.09  # template + "3 + 4 = 7. The answer is 7."
    share_wrong_step: float = 0.04  # worked (tagged or prose) with one wrong step
    # the rest: template + "The answer is 7."
    # problem knobs (the arithmetic task's defaults)
    min_operands: int = 2
    max_operands: int = 3
    max_value: int = 12
    paren_prob: float = 0.3
    max_multiplications: int = 1

    def knobs(self) -> dict:
        return dict(min_operands=self.min_operands, max_operands=self.max_operands, max_value=self.max_value,
                    operators="+-*", paren_prob=self.paren_prob, max_multiplications=self.max_multiplications)

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- corpus

_PLAIN = [
    "What is {e}? The answer is {a}.",
    "{s}",
    "Q: Compute {e}. A: {s}. The answer is {a}.",
    "Compute {e}. {s}. The answer is {a}.",
    "Question: what is {e}? Answer: {a}.",
    "We have {s}.",
    "{s}. So {e} is {a}.",
]


def _steps_text(chain: list) -> str:
    return " = ".join(render(c) for c in chain)


def _with_wrong_step(rng: random.Random, tokens: list) -> list:
    """A worked chain in which one intermediate value is off, the rest computed correctly from it."""
    chain = steps(tokens)
    if len(chain) < 2:
        return chain
    index = rng.randrange(1, len(chain))
    numbers = [i for i, t in enumerate(chain[index]) if isinstance(t, int)]
    position = rng.choice(numbers)
    wrong = list(chain[index])
    wrong[position] += rng.choice([-1, 1]) * rng.randint(1, 10)
    return chain[:index] + steps(wrong)


def _train_expression(rng: random.Random, recipe: BaseModelRecipe) -> list:
    while True:
        tokens = random_expression(rng, **recipe.knobs())
        if split_of(render(tokens)) == "train":
            return tokens


def corpus_document(rng: random.Random, recipe: BaseModelRecipe) -> str:
    tokens = _train_expression(rng, recipe)
    expression = render(tokens)
    chain = steps(tokens)
    answer = chain[-1][0]
    roll = rng.random()
    if roll < recipe.share_plain:  # a worksheet: several short texts, dense in arithmetic
        texts = [rng.choice(_PLAIN).format(e=expression, a=answer, s=_steps_text(chain))]
        for _ in range(rng.randint(2, recipe.worksheet_max - 1)):
            other = _train_expression(rng, recipe)
            other_chain = steps(other)
            texts.append(rng.choice(_PLAIN).format(e=render(other), a=other_chain[-1][0], s=_steps_text(other_chain)))
        return "\n".join(texts)
    prompt = r1_zero_prompt(f"Compute {expression}")
    roll -= recipe.share_plain
    if roll < recipe.share_tagged:
        return f"{prompt} <think> {_steps_text(chain)} </think> <answer> {answer} </answer>"
    roll -= recipe.share_tagged
    if roll < recipe.share_worked_prose:
        return f"{prompt} {_steps_text(chain)}. The answer is {answer}."
    roll -= recipe.share_worked_prose
    if roll < recipe.share_wrong_step:
        wrong = _with_wrong_step(rng, tokens)
        if rng.random() < 0.5:
            return f"{prompt} <think> {_steps_text(wrong)} </think> <answer> {wrong[-1][0]} </answer>"
        return f"{prompt} {_steps_text(wrong)}. The answer is {wrong[-1][0]}."
    return f"{prompt} The answer is {answer}."


# ---------------------------------------------------------------- tokenizer and model


def build_tokenizer(texts: list, vocab_size: int):
    """Byte-level BPE (digits always split into single characters) + the R1 tags as whole tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(TAG_TOKENS), special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    # not "special": decoding with skip_special_tokens (vLLM's default) must keep the tags
    tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in TAG_TOKENS])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS,
                                   model_max_length=2048, clean_up_tokenization_spaces=False)


def build_model(vocab_size: int, hidden_size=128, intermediate_size=512, num_layers=2, num_heads=4,
                num_kv_heads=2, max_positions=1024, eos_token_id=0, seed=0):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_positions, tie_word_embeddings=True, rope_theta=10000.0,
        bos_token_id=eos_token_id, eos_token_id=eos_token_id, pad_token_id=eos_token_id,
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config)


def build_tiny_random(directory: str | Path | None = None, hidden_size=64, num_layers=2, seed=0):
    """An untrained tiny model + tokenizer (built in about a second) for tests; saved to `directory` if given."""
    rng = random.Random(seed)
    recipe = BaseModelRecipe()
    texts = [corpus_document(rng, recipe) for _ in range(300)]
    tokenizer = build_tokenizer(texts, vocab_size=400)
    model = build_model(len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                        num_layers=num_layers, eos_token_id=tokenizer.eos_token_id, seed=seed)
    if directory is not None:
        model.save_pretrained(directory)
        tokenizer.save_pretrained(directory)
    return model, tokenizer


# ---------------------------------------------------------------- pretraining


def cache_root() -> Path:
    base = os.environ.get("ZERO_RL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "zero-rl")
    return Path(base)


def _lr_at(step: int, recipe: BaseModelRecipe) -> float:
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    return recipe.min_lr + 0.5 * (recipe.lr - recipe.min_lr) * (1 + math.cos(math.pi * progress))


def pretrain(directory: Path, recipe: BaseModelRecipe, progress: bool = True, log=print) -> None:
    """Build the tokenizer, generate the corpus, pretrain by next-token prediction, save to `directory`."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    rng = random.Random(recipe.seed)
    tokenizer = build_tokenizer([corpus_document(rng, recipe) for _ in range(5000)], recipe.vocab_size)
    model = build_model(len(tokenizer), recipe.hidden_size, recipe.intermediate_size, recipe.num_layers,
                        recipe.num_heads, recipe.num_kv_heads, eos_token_id=tokenizer.eos_token_id, seed=recipe.seed)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"embedded base model: building {n_params / 1e6:.2f} M params, {recipe.steps} pretraining steps of "
        f"{recipe.batch_size}x{recipe.seq_len} tokens -> {directory}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=(0.9, 0.95),
                                  weight_decay=recipe.weight_decay)
    eos = tokenizer.eos_token_id
    buffer: list = []
    generator = torch.Generator().manual_seed(recipe.seed)
    started = time.time()
    columns = [TextColumn("pretraining base model"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task_id = bar.add_task("pretrain", total=recipe.steps, loss=float("nan"))
        model.train()
        for step in range(recipe.steps):
            need = recipe.batch_size * (recipe.seq_len + 1)
            while len(buffer) < need:
                docs = [corpus_document(rng, recipe) for _ in range(256)]
                for ids in tokenizer(docs, add_special_tokens=False)["input_ids"]:
                    buffer.extend(ids + [eos])
            chunk = torch.tensor(buffer[:need]).view(recipe.batch_size, recipe.seq_len + 1)
            del buffer[:need]
            chunk = chunk[torch.randperm(recipe.batch_size, generator=generator)]
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, recipe)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
                logits = model(input_ids=chunk[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                                     chunk[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            bar.update(task_id, advance=1, loss=loss.item())
    elapsed = time.time() - started
    tokens = recipe.steps * recipe.batch_size * recipe.seq_len
    log(f"embedded base model: pretrained on {tokens / 1e6:.1f} M tokens in {elapsed:.0f} s "
        f"({tokens / elapsed:,.0f} tokens/s), final loss {loss.item():.3f}")
    staging = directory.with_name(directory.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "recipe.json").write_text(json.dumps(asdict(recipe), indent=2))
    os.replace(staging, directory)  # atomic: a killed build never leaves a half-written model behind


def embedded_base_model(recipe: BaseModelRecipe | None = None, progress: bool = True, log=print) -> Path:
    """Folder of the embedded base model, building it on first use (a later call reuses the cache)."""
    recipe = recipe or BaseModelRecipe()
    directory = cache_root() / f"base-{recipe.key()}"
    if (directory / "config.json").exists():
        log(f"embedded base model: using cached {directory}")
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    pretrain(directory, recipe, progress=progress, log=log)
    return directory
