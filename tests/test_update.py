"""One policy update: however the rows are cut into micro-batches (by count or by token budget) and whether
prompts are shared, the optimizer step equals the one-forward full-batch step."""

import copy

import pytest
import torch

from tests.test_logprobs import random_batch
from zero_rl.config import build_config
from zero_rl.embedded import build_model
from zero_rl.update import micro_batches, policy_update


def test_token_budget_micro_batches_keep_order_and_budget():
    rows = torch.arange(8)
    tokens = torch.tensor([5, 5, 5, 20, 3, 3, 3, 3])
    parts = micro_batches(rows, size=64, tokens_R=tokens, token_budget=10)
    assert [p.tolist() for p in parts] == [[0, 1], [2], [3], [4, 5, 6], [7]]
    assert [p.tolist() for p in micro_batches(rows, size=3)] == [[0, 1, 2], [3, 4, 5], [6, 7]]


def _step(model, batch, advantages_B, overrides):
    from accelerate import Accelerator

    model = copy.deepcopy(model)
    config = build_config(overrides=["optim.max_grad_norm=0", "optim.lr=1e-2", "algorithm.beta=0.0"] + overrides)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    policy_update(model, None, optimizer, batch, advantages_B, batch.completion_mask_BT, config,
                  Accelerator(cpu=True), use_importance_correction=False)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("aggregation", ["seq_mean_token_mean", "token_mean", "seq_mean_token_sum_norm"])
def test_micro_batching_and_prompt_sharing_equal_the_full_batch_step(aggregation):
    model = build_model(100, hidden_size=32, intermediate_size=64, num_layers=2, seed=4)
    batch = random_batch(seed=11, prompt_lengths=(6, 2, 9, 4), group_size=4)
    advantages_B = torch.randn(len(batch), generator=torch.Generator().manual_seed(0))
    base = [f"algorithm.loss_aggregation={aggregation}"]
    want = _step(model, batch, advantages_B, base + ["optim.micro_batch_size=1000", "optim.share_prompt_forward=false"])
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert not torch.allclose(want, before)
    for overrides in (["optim.micro_batch_tokens=40"], ["optim.micro_batch_size=3"], ["optim.micro_batch_size=16"]):
        got = _step(model, batch, advantages_B, base + overrides)
        assert torch.allclose(got, want, atol=1e-6, rtol=1e-5), overrides


def test_a_step_without_any_token_to_learn_from_leaves_the_weights_alone():
    """All groups had equal rewards: no loss, and no optimizer step (AdamW's momentum from the step before and
    its weight decay would otherwise still move the weights)."""
    from accelerate import Accelerator

    model = build_model(100, hidden_size=32, intermediate_size=64, num_layers=2, seed=4)
    batch = random_batch(seed=3)
    config = build_config(overrides=["algorithm.beta=0.0"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    advantages_B = torch.randn(len(batch), generator=torch.Generator().manual_seed(0))
    accelerator = Accelerator(cpu=True)
    policy_update(model, None, optimizer, batch, advantages_B, batch.completion_mask_BT, config, accelerator, False)
    after_first = [p.detach().clone() for p in model.parameters()]
    metrics = policy_update(model, None, optimizer, batch, advantages_B, torch.zeros_like(batch.completion_mask_BT),
                            config, accelerator, False)
    assert all(torch.equal(a, p) for a, p in zip(after_first, model.parameters()))
    assert metrics["loss/tokens"] == 0
