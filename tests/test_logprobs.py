"""The training forward's log-probs: shared-prompt and plain forwards agree, the chunked log-softmax equals the
textbook one in values and gradients, and per-micro-batch trimming changes nothing."""

import random

import pytest
import torch

from zero_rl.batch import build_batch, completion_logprobs, token_entropy, token_logprobs
from zero_rl.embedded import build_model
from zero_rl.generation import Completion


def reference_logprobs(model, batch, temperature):
    """The plain computation: one forward over every row, full log_softmax, autograd through it."""
    T = batch.completion_width
    logits_BTV = model(input_ids=batch.input_ids_BL, attention_mask=batch.attention_mask_BL,
                       position_ids=batch.position_ids_BL, use_cache=False).logits[:, -T - 1:-1].float()
    log_probs_BTV = torch.log_softmax(logits_BTV / temperature, dim=-1)
    logp_BT = log_probs_BTV.gather(-1, batch.input_ids_BL[:, -T:].unsqueeze(-1)).squeeze(-1)
    entropy_BT = -(log_probs_BTV.exp() * log_probs_BTV).sum(-1)
    return logp_BT, entropy_BT.detach()


def random_batch(seed, prompt_lengths=(5, 11, 3, 8), group_size=4, max_completion=9, vocab=100):
    rng = random.Random(seed)
    prompts = [[rng.randrange(1, vocab) for _ in range(n)] for n in prompt_lengths]
    completions = [Completion(p, [rng.randrange(1, vocab) for _ in range(rng.randint(1, max_completion))], "",
                              None, "stop") for p in range(len(prompts)) for _ in range(group_size)]
    return build_batch(prompts, completions, pad_id=0)


def grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.fixture(scope="module")
def model():
    return build_model(100, hidden_size=64, intermediate_size=128, num_layers=2, seed=3).float()


@pytest.mark.parametrize("share_prompts", [True, False])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logprobs_and_gradients_equal_the_plain_forward(model, share_prompts, temperature):
    batch = random_batch(seed=1)
    weights_BT = torch.randn(batch.completion_mask_BT.shape, generator=torch.Generator().manual_seed(2))
    weights_BT = weights_BT * batch.completion_mask_BT

    model.zero_grad()
    want_logp_BT, want_entropy_BT = reference_logprobs(model, batch, temperature)
    (want_logp_BT * weights_BT).sum().backward()
    want_grads = grads(model).clone()

    model.zero_grad()
    logp_BT, entropy_BT = completion_logprobs(model, batch, temperature, with_entropy=True,
                                              share_prompts=share_prompts, chunk_rows=7)
    (logp_BT * weights_BT).sum().backward()
    mask_BT = batch.completion_mask_BT
    assert torch.allclose(logp_BT.detach() * mask_BT, want_logp_BT.detach() * mask_BT, atol=2e-5)
    assert torch.allclose(entropy_BT * mask_BT, want_entropy_BT * mask_BT, atol=2e-5)
    assert torch.allclose(grads(model), want_grads, atol=2e-5, rtol=1e-4)
    assert (grads(model) != 0).any()


def test_shared_prompts_with_mixed_groups_and_single_rows(model):
    """A micro-batch may hold part of a group, whole groups and single rows; prompts of different widths."""
    batch = random_batch(seed=5, prompt_lengths=(2, 13, 7), group_size=3)
    sub = batch.select(torch.tensor([1, 2, 3, 6, 7, 8]))  # 2 of prompt 0, all of prompt 1, 3 of prompt 2
    want_BT, _ = reference_logprobs(model, sub, 1.0)
    got_BT, _ = completion_logprobs(model, sub, 1.0, share_prompts=True)
    mask_BT = sub.completion_mask_BT
    assert torch.allclose(got_BT.detach() * mask_BT, want_BT.detach() * mask_BT, atol=2e-5)


def test_trimmed_batch_drops_only_all_padding_columns():
    batch = random_batch(seed=7, prompt_lengths=(4, 12), group_size=2, max_completion=5)
    sub = batch.select(torch.tensor([0, 1]))  # prompt 0 only: 8 columns of left padding to drop
    trimmed = sub.trimmed()
    assert trimmed.prompt_width == 4
    assert trimmed.completion_width == int(sub.completion_mask_BT.sum(1).max())
    assert torch.equal(trimmed.input_ids_BL[trimmed.attention_mask_BL.bool()], sub.input_ids_BL[sub.attention_mask_BL.bool()])


def test_chunked_token_logprobs_match_log_softmax_for_any_chunk():
    generator = torch.Generator().manual_seed(0)
    logits_NV = (3 * torch.randn(37, 1000, generator=generator)).requires_grad_()
    targets_N = torch.randint(0, 1000, (37,), generator=generator)
    upstream_N = torch.randn(37, generator=generator)
    want_N = torch.log_softmax(logits_NV / 0.6, -1).gather(-1, targets_N.unsqueeze(-1)).squeeze(-1)
    (want_grad,) = torch.autograd.grad((want_N * upstream_N).sum(), logits_NV)
    for chunk in (1, 5, 37, 100):
        got_N = token_logprobs(logits_NV, targets_N, 0.6, chunk_rows=chunk)
        (got_grad,) = torch.autograd.grad((got_N * upstream_N).sum(), logits_NV)
        assert torch.allclose(got_N, want_N, atol=1e-5)
        assert torch.allclose(got_grad, want_grad, atol=1e-6)
    probs_NV = torch.softmax(logits_NV.detach(), -1)
    want_entropy_N = -(probs_NV * probs_NV.log()).sum(-1)
    assert torch.allclose(token_entropy(logits_NV.detach(), 1.0, chunk_rows=4), want_entropy_N, atol=1e-5)


def test_chunked_logprobs_keep_bf16_logits_gradient_dtype():
    logits_NV = torch.randn(6, 50, dtype=torch.bfloat16).requires_grad_()
    targets_N = torch.randint(0, 50, (6,))
    token_logprobs(logits_NV, targets_N).sum().backward()
    assert logits_NV.grad.dtype == torch.bfloat16 and torch.isfinite(logits_NV.grad.float()).all()


@pytest.fixture(scope="module")
def base_model_and_tokenizer():
    from zero_rl.models import load_model_and_tokenizer

    return load_model_and_tokenizer(None, log=lambda *_: None)  # the shipped embedded base model


@pytest.mark.parametrize("stop", [[], [" </answer>"]])  # the shared-prompt sampler; transformers' generate for stops
@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 1.0), (1.3, 0.9)])
def test_hf_generator_logprobs_are_the_sampling_distributions(base_model_and_tokenizer, temperature, top_p, stop):
    """The transformers generator gathers each sampled token's log-prob step by step (no [N, T, V] scores kept):
    at top_p = 1 they equal the trainer's log-probs at the same temperature; with top-p they come from the
    renormalised nucleus, so they are >= the full distribution's."""
    from zero_rl.generation import SamplingParams
    from zero_rl.generation.hf import HFGenerator
    from zero_rl.task import r1_zero_prompt

    model, tokenizer = base_model_and_tokenizer
    generator = HFGenerator(model, tokenizer)
    prompts = [tokenizer(r1_zero_prompt(f"Compute {e}"), add_special_tokens=False)["input_ids"]
               for e in ("3 + 4", "12 * (2 + 5)")]
    completions = generator.generate(prompts, SamplingParams(n=3, temperature=temperature, top_p=top_p,
                                                              max_new_tokens=24, seed=1, stop=stop))
    assert len(completions) == 6 and all(len(c.logprobs) == len(c.token_ids) for c in completions)
    batch = build_batch(prompts, completions, pad_id=tokenizer.pad_token_id)
    with torch.no_grad():
        trainer_BT, _ = completion_logprobs(model, batch, temperature)
    behaviour_BT, mask_BT = batch.behaviour_logp_BT, batch.completion_mask_BT
    if top_p == 1.0:
        assert torch.allclose(behaviour_BT * mask_BT, trainer_BT * mask_BT, atol=1e-4)
    else:
        assert ((behaviour_BT - trainer_BT) * mask_BT >= -1e-4).all()
        assert ((behaviour_BT - trainer_BT) * mask_BT > 1e-3).any()


def test_shared_prompt_sampler_greedy_equals_transformers_generate(model):
    """Greedy decoding from one prefill per prompt gives transformers' own greedy tokens, prompts of
    different lengths (left padding) included; seeded sampling is reproducible."""
    from zero_rl.generation import SamplingParams
    from zero_rl.generation.hf import left_pad, shared_prompt_sample

    prompts = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15]]
    ids, mask = left_pad(prompts, 0)
    model.eval()
    want = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=8, pad_token_id=0,
                          eos_token_id=99, top_k=None, temperature=None, top_p=None)[:, ids.shape[1]:]
    got, logp = shared_prompt_sample(model, prompts, SamplingParams(n=1, temperature=0, max_new_tokens=8), 99, 0)
    assert torch.equal(got, want) and (logp <= 0).all()
    torch.manual_seed(4)
    first = shared_prompt_sample(model, prompts, SamplingParams(n=4, max_new_tokens=8), 99, 0)[0]
    torch.manual_seed(4)
    again = shared_prompt_sample(model, prompts, SamplingParams(n=4, max_new_tokens=8), 99, 0)[0]
    assert first.shape == (12, 8) and torch.equal(first, again)
    assert len({tuple(row) for row in first[:4].tolist()}) > 1  # the n completions of a prompt differ
