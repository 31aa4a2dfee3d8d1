"""The generator interface: prompts in, groups of completions with behaviour log-probs out.

Backends: `hf` (transformers `generate`, any device) and `vllm` (colocated vLLM engine). The training loop only
sees this interface, so a backend plugs in without touching the loop.
"""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class SamplingParams:
    """How to sample; temperature 0 means greedy."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    stop: list = field(default_factory=list)
    seed: int | None = None


@dataclass
class Completion:
    """One sampled completion of prompt `prompt_index`."""

    prompt_index: int
    token_ids: list  # completion tokens only, including the end-of-text token if generated
    text: str  # decoded completion, stop string / end-of-text excluded
    logprobs: list | None  # behaviour log-prob of each token in token_ids under the sampling distribution
    finish_reason: str  # "stop" (end-of-text or a stop string) or "length" (cut at max_new_tokens)


class Generator(Protocol):
    name: str

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> list[Completion]:
        """Return len(prompt_ids) * params.n completions, prompt-major (all of prompt 0, then prompt 1, ...)."""

    def sync_weights(self, model) -> None:
        """Make the generator sample from `model`'s current weights."""


def build_generator(backend: str, model, tokenizer, config=None, log=print) -> "Generator":
    """`hf`, `vllm`, or `auto` (vLLM when it imports, else transformers); says which it picked."""
    if backend not in ("hf", "vllm", "auto"):
        raise ValueError(f"unknown generator backend {backend!r}; valid: hf, vllm, auto")
    if backend == "auto":
        try:
            import vllm  # noqa: F401

            backend = "vllm"
        except Exception as error:  # vLLM missing or broken: say so, then use transformers
            log(f"generator auto: vLLM does not import ({type(error).__name__}: {error}); using transformers")
            backend = "hf"
        else:
            log("generator auto: vLLM imports; using vllm")
    if backend == "vllm":
        from zero_rl.generation.vllm import VLLMGenerator

        return VLLMGenerator(model, tokenizer, config)
    from zero_rl.generation.hf import HFGenerator

    return HFGenerator(model, tokenizer)
