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

from zero_rl.tasks.arithmetic import random_expression, render, split_of, steps
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
    precision: str = "auto"  # autocast: auto = bfloat16 where the CPU has native bf16 (2x faster), else float32
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

    def document(self, rng: random.Random) -> str:
        """One pretraining document; a recipe variant with another corpus overrides this (see zero_rl.aha)."""
        return corpus_document(rng, self)


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

SHIPPED = Path(__file__).resolve().parent / "base_model"
"""The default recipe's model, built once by `python -m zero_rl.embedded --out DIR` and shipped in the package
(3 MB): rebuilding takes 5 minutes on a CPU with native bf16 and about 17 on an AVX2-only one, more than the
quickstart's whole budget. `build.json` beside the weights says how and where it was built, with a fingerprint
(tokenizer, initial weights, the first losses) that the tests recompute from the recipe."""
SHIPPED_AHA = Path(__file__).resolve().parent / "base_model_aha"
"""The aha variant's model (zero_rl.aha.AhaRecipe, `embedded:aha`), shipped for the same reason: its build takes
about 19 minutes here, the whole of the aha experiment's time budget. Built by
`python -m zero_rl.embedded --variant embedded:aha --out DIR --ship`."""
SHIPPED_FOLDERS = (SHIPPED, SHIPPED_AHA)

FINGERPRINT_STEPS = 8


def cache_root() -> Path:
    base = os.environ.get("ZERO_RL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "zero-rl")
    return Path(base)


def _lr_at(step: int, recipe: BaseModelRecipe) -> float:
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    return recipe.min_lr + 0.5 * (recipe.lr - recipe.min_lr) * (1 + math.cos(math.pi * progress))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_digest(model) -> str:
    """sha256 over the parameters' names and float32 bytes, in name order (independent of file layout)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def tokenizer_digest(tokenizer) -> str:
    return _sha256(json.dumps(sorted(tokenizer.get_vocab().items())).encode())


def initial_model_and_tokenizer(recipe: BaseModelRecipe):
    """The recipe's tokenizer and untrained model, and the corpus generator's state after the tokenizer's sample."""
    rng = random.Random(recipe.seed)
    tokenizer = build_tokenizer([recipe.document(rng) for _ in range(5000)], recipe.vocab_size)
    model = build_model(len(tokenizer), recipe.hidden_size, recipe.intermediate_size, recipe.num_layers,
                        recipe.num_heads, recipe.num_kv_heads, eos_token_id=tokenizer.eos_token_id, seed=recipe.seed)
    return model, tokenizer, rng


def pretrain_steps(model, tokenizer, rng: random.Random, recipe: BaseModelRecipe, steps: int, precision: str,
                   on_step=None) -> list:
    """The first `steps` steps of the recipe's next-token pretraining, in `precision` autocast; the losses."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=(0.9, 0.95),
                                  weight_decay=recipe.weight_decay)
    eos = tokenizer.eos_token_id
    buffer: list = []
    generator = torch.Generator().manual_seed(recipe.seed)
    losses = []
    model.train()
    for step in range(steps):
        need = recipe.batch_size * (recipe.seq_len + 1)
        while len(buffer) < need:
            docs = [recipe.document(rng) for _ in range(256)]
            for ids in tokenizer(docs, add_special_tokens=False)["input_ids"]:
                buffer.extend(ids + [eos])
        chunk = torch.tensor(buffer[:need]).view(recipe.batch_size, recipe.seq_len + 1)
        del buffer[:need]
        chunk = chunk[torch.randperm(recipe.batch_size, generator=generator)]
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, recipe)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            logits = model(input_ids=chunk[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                                 chunk[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(losses[-1])
    return losses


def fingerprint(recipe: BaseModelRecipe, steps: int = FINGERPRINT_STEPS) -> dict:
    """What the recipe determines and any CPU reproduces: the tokenizer, the initial weights, and the losses
    of the first `steps` float32 pretraining steps (equal up to floating-point summation order)."""
    model, tokenizer, rng = initial_model_and_tokenizer(recipe)
    out = {"tokenizer_sha256": tokenizer_digest(tokenizer), "initial_weights_sha256": state_digest(model)}
    out["float32_losses"] = pretrain_steps(model, tokenizer, rng, recipe, steps, "float32")
    return out


def pretrain(directory: Path, recipe: BaseModelRecipe, progress: bool = True, log=print,
             heartbeat_s: float | None = None) -> None:
    """Build the tokenizer, generate the corpus, pretrain by next-token prediction, save to `directory`.
    Progress: a live bar in a terminal; otherwise a plain line with step, rate and ETA at least every
    `heartbeat_s` seconds (zero_rl.progress.HEARTBEAT_S), from the tokenizer build on."""
    from zero_rl.progress import HEARTBEAT_S, PlainProgress, is_terminal

    live = progress and is_terminal()
    plain = PlainProgress("pretraining base model:", recipe.steps, interval_s=heartbeat_s or HEARTBEAT_S,
                          print_fn=log) if progress and not live else None
    try:
        _pretrain(directory, recipe, log, live, plain)
    finally:
        if plain is not None:
            plain.close()


def _pretrain(directory: Path, recipe: BaseModelRecipe, log, live: bool, plain) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from zero_rl.precision import resolve_precision

    precision, reason = resolve_precision(recipe.precision, "cpu", cpu_auto="bfloat16")
    model, tokenizer, rng = initial_model_and_tokenizer(recipe)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"embedded base model: building {n_params / 1e6:.2f} M params, {recipe.steps} pretraining steps of "
        f"{recipe.batch_size}x{recipe.seq_len} tokens -> {directory}; precision {reason}")
    started = time.time()
    columns = [TextColumn("pretraining base model"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    done = []

    def on_step(loss):  # a live bar in a terminal, else a plain line every 10 % and the heartbeat in between
        done.append(loss)
        bar.update(task_id, advance=1, loss=loss)
        if plain is not None:
            plain.update(len(done), f"loss {loss:.3f}", quiet=len(done) % max(1, recipe.steps // 10) != 0)

    with Progress(*columns, disable=not live, transient=False) as bar:
        task_id = bar.add_task("pretrain", total=recipe.steps, loss=float("nan"))
        losses = pretrain_steps(model, tokenizer, rng, recipe, recipe.steps, precision, on_step=on_step)
    elapsed = time.time() - started
    tokens = recipe.steps * recipe.batch_size * recipe.seq_len
    log(f"embedded base model: pretrained on {tokens / 1e6:.1f} M tokens in {elapsed:.0f} s "
        f"({tokens / elapsed:,.0f} tokens/s, {precision}), final loss {losses[-1]:.3f}")
    staging = directory.with_name(f"{directory.name}.partial-{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "recipe.json").write_text(json.dumps(asdict(recipe), indent=2))
    build = {"precision": precision, "cpu": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
             "seconds": round(elapsed), "final_loss": losses[-1], "weights_sha256": state_digest(model)}
    (staging / "build.json").write_text(json.dumps(build, indent=2))
    try:
        os.replace(staging, directory)  # atomic: a killed build never leaves a half-written model behind
    except OSError:  # another process finished the same build first: keep its copy
        if not (directory / "config.json").exists():
            raise
        import shutil

        shutil.rmtree(staging, ignore_errors=True)


def shipped_base_model(recipe: BaseModelRecipe) -> Path | None:
    """The shipped folder built from exactly `recipe` (its recipe.json equals the recipe's fields), else None."""
    for folder in SHIPPED_FOLDERS:
        try:
            shipped_recipe = json.loads((folder / "recipe.json").read_text())
        except (OSError, ValueError):
            continue
        if shipped_recipe == asdict(recipe) and (folder / "model.safetensors").exists():
            return folder
    return None


def embedded_base_model(recipe: BaseModelRecipe | None = None, progress: bool = True, log=print) -> Path:
    """Folder of the embedded base model: the shipped one for the default recipe and the aha variant, else built
    on first use and cached (a later call reuses the cache)."""
    recipe = recipe or BaseModelRecipe()
    shipped = shipped_base_model(recipe)
    if shipped is not None:
        build = json.loads((shipped / "build.json").read_text())
        log(f"embedded base model: shipped weights (recipe {recipe.key()}, pretrained in {build['precision']} "
            f"on {build['cpu']}); rebuild with `python -m zero_rl.embedded --out DIR"
            + ("`" if shipped == SHIPPED else f" --variant embedded:{getattr(recipe, 'corpus', '')}`"))
        return shipped
    directory = cache_root() / f"base-{recipe.key()}"
    if (directory / "config.json").exists():
        log(f"embedded base model: using cached {directory}")
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    pretrain(directory, recipe, progress=progress, log=log)
    return directory


def main(argv=None) -> None:
    """Rebuild the default recipe's base model (or --variant's) into --out; with --ship, also write the
    fingerprint into build.json (what the shipped copy carries)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m zero_rl.embedded", description=main.__doc__)
    parser.add_argument("--out", required=True, help="folder to write the model into (must not exist)")
    parser.add_argument("--ship", action="store_true", help="add the fingerprint to build.json")
    parser.add_argument("--variant", default=None, help="a recipe variant, e.g. embedded:aha (default: the default)")
    args = parser.parse_args(argv)
    directory = Path(args.out)
    if directory.exists():
        parser.error(f"{directory} exists; give a new folder")
    if args.variant:
        from zero_rl.models import EMBEDDED_VARIANTS, embedded_variant_recipe

        if args.variant not in EMBEDDED_VARIANTS:
            parser.error(f"unknown --variant {args.variant!r}; choose one of {', '.join(EMBEDDED_VARIANTS)}")
        recipe = embedded_variant_recipe(args.variant)
    else:
        recipe = BaseModelRecipe()
    pretrain(directory, recipe, progress=True)
    if args.ship:
        build = json.loads((directory / "build.json").read_text())
        build["fingerprint"] = fingerprint(recipe)
        (directory / "build.json").write_text(json.dumps(build, indent=2))
    print(f"built {directory}: {json.loads((directory / 'build.json').read_text())}")


if __name__ == "__main__":
    main()
