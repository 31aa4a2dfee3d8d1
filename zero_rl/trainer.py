"""The training loop for every algorithm, top to bottom: sample prompts -> generate G completions each -> score ->
(PPO: values) -> advantages -> policy update -> (PPO: critic update) -> sync weights to the generator -> log ->
eval / checkpoint. GRPO (`algorithm.name: grpo`) takes group-relative advantages; PPO (`ppo`) learns a critic
(zero_rl/critic.py) and takes GAE advantages from its values.

`train` receives built objects where a caller has them (a test hands it a tiny model), and builds the rest from
the config. Runs single-process or under `accelerate launch` (DDP): each process takes an equal share of the
step's prompts and keeps its own generator.
"""

import math
import random
import time
from functools import partial
from pathlib import Path

import torch
import yaml

from zero_rl.advantages import gae_advantages, get_advantage_fn, length_adaptive_lam, masked_whiten, \
    outcome_rewards_BT, zero_std_groups
from zero_rl.batch import build_batch
from zero_rl.checkpoint import load_checkpoint, prune_checkpoints, resume_point, save_checkpoint
from zero_rl.config import ConfigError, TrainConfig
from zero_rl.critic import Critic, build_value_model, value_metrics
from zero_rl.evaluate import greedy_eval
from zero_rl.generation import SamplingParams, build_generator
from zero_rl.losses import adaptive_kl_coef, kl_k1, masked_mean
from zero_rl.metrics import RunLog, sample_rows, truncate_for_resume
from zero_rl.scoring import score_inline
from zero_rl.task_options import prompt_text
from zero_rl.update import policy_update, rollout_logprobs
from zero_rl.rewards.length import add_overlong_term
from zero_rl.advantages import BATCH_ADVANTAGES
from zero_rl.dynamic_sampling import Rollout, sample_informative_groups
from zero_rl.dpo import online_dpo_update  # online DPO (algorithm.name: online_dpo)
from zero_rl.process_rewards import grpo_process_advantages, step_rewards, token_rewards_BT  # process rewards
from zero_rl.reward_model import RewardModelTerm  # learned reward model term (config section reward_model)

NO_SIGNAL_WARN_STEPS = 5
"""Consecutive steps in which every group had equal rewards (so nothing was learned) before a warning."""
UPDATE_ONLY_METRICS = ("loss/clip_fraction", "loss/entropy", "loss/grad_norm", "loss/kl")
"""Logged as null for a step that had no token to learn from, rather than as a 0.0 that reads as collapse."""


def lr_multiplier(step: int, warmup_steps: int, total_steps: int, schedule: str) -> float:
    """Linear warm-up to 1, then constant, linear decay to 0, or cosine decay to 0 at total_steps."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def step_examples(examples: list, step: int, prompts_per_step: int, seed: int, rank: int, world: int) -> list:
    """This rank's prompts for `step` (1-based): a seeded permutation per epoch, read in order, so the data
    position is a function of the step and a resumed run sees exactly the prompts it would have seen."""
    per_rank = prompts_per_step // world
    start = (step - 1) * prompts_per_step + rank * per_rank
    out = []
    for position in range(start, start + per_rank):
        epoch, offset = divmod(position, len(examples))
        order = list(range(len(examples)))
        random.Random(f"{seed}/epoch{epoch}").shuffle(order)
        out.append(examples[order[offset]])
    return out


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def rollout_metrics(scores, completions, rewards_B, zero_std_P, task) -> dict:
    lengths = [len(c.token_ids) for c in completions]
    out = {"reward/total": _mean(rewards_B.tolist()), "reward/total_std": float(rewards_B.std())}
    out.update(scores.metrics())
    out["accuracy"] = _mean(scores.components[task.accuracy])
    if task.format:
        out["format_rate"] = _mean(scores.components[task.format])
    out["completion/length_mean"] = _mean(lengths)
    out["completion/length_max"] = max(lengths)
    out["completion/clipped_share"] = _mean(c.finish_reason == "length" for c in completions)
    out["groups/zero_std_share"] = float(zero_std_P.float().mean())
    return out


def _average_across_ranks(metrics: dict, accelerator) -> dict:
    if accelerator.num_processes == 1:
        return metrics
    keys = sorted(metrics)
    values = torch.tensor([float(metrics[k]) for k in keys], device=accelerator.device)
    values = accelerator.reduce(values, reduction="mean")
    return dict(zip(keys, values.tolist()))


def evaluate_held_out(generator, tokenizer, task, examples, config, accelerator, prompt_suffix="", pool=None) -> dict:
    """Greedy accuracy / format on the held-out examples, sharded across ranks and combined (scored in the
    run's RewardPool when it has one, each chunk while the next is generated)."""
    from accelerate.utils import gather_object

    shard = examples[accelerator.process_index::accelerator.num_processes]
    result = greedy_eval(generator, tokenizer, task, shard, config.generation.max_new_tokens, prompt_suffix,
                         pool=pool) if shard else {"n": 0}
    parts = gather_object([result]) if accelerator.num_processes > 1 else [result]
    total = sum(p["n"] for p in parts)
    combined = {"n": total}
    for key in ("accuracy", "format", "mean_length"):
        if all(key in p for p in parts if p["n"]):
            combined[key] = sum(p[key] * p["n"] for p in parts if p["n"]) / max(total, 1)
    if config.task.eval_samples:
        from zero_rl.evaluate import sample_eval_sharded

        params = SamplingParams(temperature=config.generation.temperature, top_p=config.generation.top_p,
                                max_new_tokens=config.generation.max_new_tokens, seed=config.run.seed + 7)
        sampled = sample_eval_sharded(generator, tokenizer, task, examples, config.task.eval_samples,
                                      config.task.eval_ks, params, accelerator, prompt_suffix, pool=pool)
        combined.update({f"sampled/{k}": v for k, v in sampled.items()})
    return combined


def rollout_params(config: TrainConfig, seed: int) -> SamplingParams:
    gen = config.generation
    return SamplingParams(n=gen.group_size, temperature=gen.temperature, top_p=gen.top_p,
                          max_new_tokens=gen.max_new_tokens, stop=list(gen.stop), seed=seed)


def ppo_advantages(critic, batch, rewards_B, model, ref_model, kl_coef: float, config, accelerator,
                   token_rewards_BT=None) -> tuple:
    """PPO's advantage step: the critic's values, the outcome reward on the last token (minus kl_coef * k1 per
    token when the KL is in the reward), GAE with the critic's lambda for the returns and the actor's lambda
    (decoupled, or length-adaptive) for the advantages, whitened over all ranks' valid tokens.
    Returns (advantages_BT, returns_BT, values_BT, observed_kl or None, metrics)."""
    alg = config.algorithm
    mask_BT = batch.completion_mask_BT
    values_BT = critic.values(batch)
    rewards_BT = outcome_rewards_BT(rewards_B, mask_BT)
    if token_rewards_BT is not None:  # process rewards: each step's reward on its last token
        rewards_BT = rewards_BT + token_rewards_BT * mask_BT
    observed_kl, metrics = None, {}
    if alg.kl_reward_coef > 0:
        kl_BT = kl_k1(rollout_logprobs(model, batch, config, accelerator),
                      rollout_logprobs(ref_model, batch, config, accelerator)) * mask_BT
        rewards_BT = rewards_BT - kl_coef * kl_BT
        observed_kl = float(masked_mean(masked_mean(kl_BT, mask_BT, dim=1), (mask_BT.sum(dim=1) > 0).float()))
        metrics.update({"kl/reward_penalty": float(masked_mean(kl_coef * kl_BT, mask_BT)), "kl/coef": kl_coef,
                        "kl/reward_k1": observed_kl})
    _, returns_BT = gae_advantages(rewards_BT, values_BT, mask_BT, alg.gamma, alg.lam)
    lam_actor = alg.lam if alg.lam_actor is None else alg.lam_actor
    if alg.lam_actor_alpha > 0:
        lam_actor = length_adaptive_lam(mask_BT.sum(dim=1), alg.lam_actor_alpha)
    if alg.lam_actor_alpha > 0 or lam_actor != alg.lam:
        advantages_BT, _ = gae_advantages(rewards_BT, values_BT, mask_BT, alg.gamma, lam_actor)
    else:
        advantages_BT = returns_BT - values_BT
    mean = float(masked_mean(advantages_BT, mask_BT))  # before whitening: what the critic leaves to learn
    metrics.update({"advantages/mean": mean,
                    "advantages/std": max(float(masked_mean(advantages_BT ** 2, mask_BT)) - mean ** 2, 0.0) ** 0.5})
    if alg.whiten_advantages:
        reduce = (lambda t: accelerator.reduce(t.to(accelerator.device), reduction="sum").cpu()) \
            if accelerator.num_processes > 1 else None  # (NCCL reduces device tensors only)
        advantages_BT = masked_whiten(advantages_BT, mask_BT, reduce)
    metrics.update(value_metrics(values_BT, returns_BT, mask_BT))
    return advantages_BT, returns_BT, values_BT, observed_kl, metrics


def pretrain_critic(critic, generator, tokenizer, task, scorer, examples, config, accelerator, runlog, say) -> None:
    """Value pretraining (VC-PPO): `critic.pretrain_steps` critic-only steps on Monte-Carlo returns (lambda 1) of
    the initial policy, on prompts drawn apart from the training order. Logged to value_pretrain.jsonl."""
    rank, world = accelerator.process_index, accelerator.num_processes
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if accelerator.is_main_process:  # a run resumed before its first checkpoint pretrains again, from scratch
        (runlog.directory / "value_pretrain.jsonl").unlink(missing_ok=True)
    for step in range(1, config.critic.pretrain_steps + 1):
        examples_P = step_examples(examples, step, config.run.prompts_per_step, f"{config.run.seed}/value-pretrain",
                                   rank, world)
        prompt_ids = [tokenizer(prompt_text(task, e, tokenizer), add_special_tokens=False)["input_ids"]
                      for e in examples_P]
        completions = generator.generate(prompt_ids, rollout_params(config, (config.run.seed * 1_000_003 - step)
                                                                    * 64 + rank))
        scores = scorer([c.text for c in completions], [examples_P[c.prompt_index] for c in completions],
                        task.rewards)
        batch = build_batch(prompt_ids, completions, pad_id)
        mask_BT = batch.completion_mask_BT
        values_BT = critic.values(batch)
        rewards_BT = outcome_rewards_BT(torch.tensor(scores.total_B, dtype=torch.float), mask_BT)
        _, returns_BT = gae_advantages(rewards_BT, values_BT, mask_BT, config.algorithm.gamma, 1.0)
        metrics = value_metrics(values_BT, returns_BT, mask_BT)
        metrics.update(critic.update(batch, values_BT, returns_BT, mask_BT, step_scheduler=False))
        metrics = _average_across_ranks(metrics, accelerator)
        runlog.write("value_pretrain.jsonl", dict(metrics, step=step))
        say(f"value pretraining {step}/{config.critic.pretrain_steps}: loss {metrics['critic/value_loss']:.4f}, "
            f"explained variance {metrics['critic/explained_variance']:.3f}")


class _Scorer:
    """Scores a step's completions: inline (reward_workers=0) or in the process pool."""

    def __init__(self, task_config):
        self.pool = None
        if task_config.reward_workers > 0:
            from zero_rl.scoring import RewardPool

            self.pool = RewardPool(workers=task_config.reward_workers, timeout_s=task_config.reward_timeout_s)

    def __call__(self, completions, examples, rewards):
        if self.pool is None:
            return score_inline(rewards, completions, examples)
        return self.pool.score(rewards, completions, examples)

    def close(self):
        if self.pool is not None:
            self.pool.close()


def train(config: TrainConfig, model=None, tokenizer=None, task=None, generator=None, accelerator=None,
          log=None) -> dict:
    """Run GRPO or PPO as configured; returns {"before": eval, "after": eval, "steps": n, "output_dir": path}."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from zero_rl.tasks import get_task
    from zero_rl.models import load_model_and_tokenizer

    from zero_rl.precision import training_mixed_precision

    from zero_rl import distributed as dist_

    accelerator = accelerator or Accelerator(mixed_precision=training_mixed_precision(config.model.dtype, log or print),
                                             kwargs_handlers=[dist_.process_group_timeout(config.distributed)])
    dist_.check_launcher(accelerator)
    rank, world, is_main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    if config.run.prompts_per_step % world:
        raise ConfigError(f"run.prompts_per_step={config.run.prompts_per_step} must divide evenly across "
                          f"{world} processes")
    out = Path(config.run.output_dir)
    runlog = RunLog(out, config.run.steps, enabled=is_main, progress=config.run.progress,
                    label=config.algorithm.name.upper(), report_to=config.run.report_to, config=config.to_dict())
    say = log or runlog.print
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        say(f"config: {config.to_dict()}")
    set_seed(config.run.seed)

    task = task or get_task(config.task.name, **config.task.options)
    train_examples = task.load(task.train_split)
    eval_examples = task.load(task.eval_split)
    eval_examples = eval_examples[: config.task.eval_size] if config.task.eval_size else eval_examples
    if model is None:
        model, tokenizer = load_model_and_tokenizer(config.model.name_or_path, progress=config.run.progress
                                                    and is_main, log=say)
    if config.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    ppo = config.algorithm.name == "ppo"
    needs_reference = config.algorithm.beta > 0 or config.algorithm.kl_reward_coef > 0
    needs_reference = needs_reference or config.algorithm.name == "online_dpo"
    # distributed / LoRA (zero_rl/distributed.py, zero_rl/lora.py): adapters on the policy (the reference is then
    # the base with adapters off), fsdp2 shards policy and reference; only trainable parameters are optimized
    value_model = build_value_model(model, config.critic.name_or_path, seed=config.run.seed,  # (before sharding)
                                    gradient_checkpointing=config.model.gradient_checkpointing) if ppo else None
    model, ref_model, sharded = dist_.hold_policy(model, config, needs_reference, say)

    optim = config.optim
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=optim.lr,
                                  betas=tuple(optim.betas), weight_decay=optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, optim.warmup_steps, config.run.steps, optim.schedule))
    if not sharded:  # (accelerate would wrap an FSDP2 module in DDP)
        model, optimizer = accelerator.prepare(model, optimizer)
    if ref_model is not None and not sharded:
        ref_model.to(accelerator.device)
    policy = accelerator.unwrap_model(model)
    critic = None
    if ppo:  # from the policy's base checkpoint (overwritten below when resuming) or critic.name_or_path
        critic_config = config.critic
        critic = Critic(value_model, config, accelerator, lambda s: lr_multiplier(s, critic_config.lr_warmup_steps,
                                                                     config.run.steps, critic_config.schedule))
    generator = generator or build_generator(config.generation.backend, policy, tokenizer, config.generation, say)
    dist_.check_even_eval(config, len(eval_examples), world, generator.name)
    dist_.print_holdings({"policy": policy, "critic": critic.unwrapped if critic else None}, config, accelerator)
    # (save, load): sharded with torch.distributed.checkpoint for fsdp2 / LoRA, else the HF-format checkpoint
    checkpoints = dist_.checkpoint_functions(config) or (save_checkpoint, load_checkpoint)
    use_tis = generator.name == "vllm" and config.generation.importance_correction
    scorer = _Scorer(config.task)
    reward_model = RewardModelTerm.from_config(config.reward_model, accelerator.device)
    advantage_fn = get_advantage_fn(config.algorithm.advantage)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    group_size = config.generation.group_size

    start_step, history, kl_coef = 0, {}, config.algorithm.kl_reward_coef
    block = 0
    checkpoint = resume_point(out / "checkpoints", config.run.steps) if config.run.resume else None
    if checkpoint is not None:
        state = checkpoints[1](checkpoint, policy, optimizer, scheduler, rank, critic=critic)
        start_step, history = state["step"], state.get("history", {})
        block = state["data_position"] // config.run.prompts_per_step  # rounds of prompts consumed (dynamic sampling)
        kl_coef = state.get("kl_coef", kl_coef)
        generator.sync_weights(policy)
        say(f"resumed from {checkpoint} at step {start_step} (data position {state['data_position']})")
    elif config.run.resume:
        say(f"run.resume: no checkpoint in {out / 'checkpoints'}; starting from step 0")
    if config.run.resume and is_main:  # one row per step: the killed run's rows after the checkpoint go
        dropped = truncate_for_resume(out, start_step, config.run.steps)
        if dropped:
            say(f"resume: dropped {dropped} metric/eval rows written after step {start_step} by the interrupted run")
    if start_step == 0:
        history["before"] = evaluate_held_out(generator, tokenizer, task, eval_examples, config, accelerator,
                                              pool=scorer.pool)
        runlog.write("eval.jsonl", dict(history["before"], step=0))
        say(f"held-out before RL: {history['before']}")
        if critic is not None and config.critic.pretrain_steps:
            pretrain_critic(critic, generator, tokenizer, task, scorer, train_examples, config, accelerator,
                            runlog, say)

    timing = {"generate": 0.0}

    def generate_round(round_block: int) -> Rollout:
        """Generate and score block `round_block` (1-based) of prompts_per_step prompts; without dynamic sampling
        the block is the step, so prompts and seeds are the ones a step always had."""
        begin = time.time()
        examples_P = step_examples(train_examples, round_block, config.run.prompts_per_step, config.run.seed, rank,
                                   world)
        prompt_ids = [tokenizer(prompt_text(task, e, tokenizer), add_special_tokens=False)["input_ids"]
                      for e in examples_P]
        completions = generator.generate(prompt_ids, rollout_params(config, (config.run.seed * 1_000_003
                                                                             + round_block) * 64 + rank))
        timing["generate"] += time.time() - begin
        scores = scorer([c.text for c in completions], [examples_P[c.prompt_index] for c in completions],
                        task.rewards)
        if config.task.overlong_buffer:  # DAPO overlong shaping, a reward term on token counts
            scores = add_overlong_term(scores, [len(c.token_ids) for c in completions],
                                       config.task.overlong_max_length or config.generation.max_new_tokens,
                                       config.task.overlong_buffer, config.task.overlong_penalty_factor)
        if reward_model is not None:  # the learned reward model term (before dynamic sampling reads the totals)
            scores = reward_model.add_to(scores, [prompt_text(task, examples_P[c.prompt_index], tokenizer)
                                                  for c in completions], [c.text for c in completions])
        return Rollout(examples_P, prompt_ids, completions, scores)

    def gather_counts(count: int) -> list:
        if world == 1:
            return [count]
        return accelerator.gather(torch.tensor([count], device=accelerator.device)).cpu().tolist()

    syncs, steps_without_signal = 0, 0
    for step in range(start_step + 1, config.run.steps + 1):
        started = time.time()
        timing["generate"] = 0.0
        if config.algorithm.dynamic_sampling:
            rollout, rounds, sampling_metrics = sample_informative_groups(
                generate_round, block + 1, config.run.prompts_per_step // world, group_size,
                config.algorithm.max_generation_rounds, gather_counts)
        else:
            rollout, rounds, sampling_metrics = generate_round(block + 1), 1, {}
        block += rounds
        examples_P, prompt_ids, completions, scores = (rollout.examples_P, rollout.prompt_ids, rollout.completions,
                                                       rollout.scores)
        generated = started + timing["generate"]
        rewards_B = torch.tensor(scores.total_B, dtype=torch.float)
        scored = time.time()

        zero_std_P = zero_std_groups(rewards_B, group_size)
        batch = build_batch(prompt_ids, completions, pad_id)
        steps_B = step_rewards(scores, task.rewards, completions, tokenizer)  # None unless a reward scored steps
        if critic is None:
            if config.algorithm.advantage in BATCH_ADVANTAGES and world > 1:  # batch statistics of all ranks
                all_rewards_B = accelerator.gather(rewards_B.to(accelerator.device)).cpu()
                advantages = advantage_fn(all_rewards_B, group_size, std_eps=config.algorithm.std_eps)
                advantages = advantages[rank * len(rewards_B): (rank + 1) * len(rewards_B)]
            else:
                advantages = advantage_fn(rewards_B, group_size, std_eps=config.algorithm.std_eps)  # [B]
            advantage_metrics = {"advantages/mean": float(advantages.mean()), "advantages/std": float(advantages.std())}
        else:
            advantages, returns_BT, values_BT, observed_kl, advantage_metrics = ppo_advantages(  # [B, T]
                critic, batch, rewards_B, model, ref_model, kl_coef, config, accelerator,
                token_rewards_BT=None if steps_B is None else token_rewards_BT(steps_B, batch.completion_width))
        if steps_B is not None and critic is None:  # GRPO's process supervision (DeepSeekMath 4.1.3)
            if config.algorithm.name == "online_dpo":
                raise ConfigError(f"algorithm.name=online_dpo ranks completions by one total reward, but reward(s) "
                                  f"{', '.join(scores.steps)} returned step scores; use grpo or ppo with them")
            advantages, zero_std_P, advantage_metrics = grpo_process_advantages(
                rewards_B, steps_B, group_size, batch.completion_mask_BT, advantage_fn, config.algorithm.std_eps)
        valued = time.time()
        keep_B = torch.ones(len(batch))
        if config.algorithm.drop_zero_std_groups and critic is None:
            keep_B = keep_B * (~zero_std_P).repeat_interleave(group_size).float()
        if config.algorithm.mask_truncated:
            keep_B = keep_B * (~batch.truncated_B).float()
        sleep = config.generation.enable_sleep_mode and hasattr(generator, "sleep")
        if sleep:  # free the generator's memory for the update (vLLM sleep mode on GPU)
            generator.sleep()
        update_metrics = {}
        if critic is None or step > config.critic.warmup_steps:  # critic warm-up: only the critic learns
            kl_loss_ref = ref_model if config.algorithm.beta > 0 else None  # (PPO may hold it for the reward)
            update = policy_update
            if config.algorithm.name == "online_dpo":  # pairs from each group's rewards, DPO loss vs the reference
                update, kl_loss_ref, advantages = partial(online_dpo_update, group_size=group_size), ref_model, rewards_B
            update_metrics = update(model, kl_loss_ref, optimizer, batch, advantages,
                                           batch.completion_mask_BT * keep_B.unsqueeze(1), config, accelerator,
                                           use_tis)
            scheduler.step()
        updated = time.time()
        if critic is not None:
            update_metrics.update(critic.update(batch, values_BT, returns_BT, batch.completion_mask_BT))
            if config.algorithm.kl_target > 0:  # the same coefficient on every rank: the KL averaged over all
                observed = torch.tensor([observed_kl], dtype=torch.float64, device=accelerator.device)
                observed = float(accelerator.reduce(observed, reduction="mean")) if world > 1 else observed_kl
                kl_coef = adaptive_kl_coef(kl_coef, observed, config.algorithm.kl_target,
                                           config.algorithm.kl_horizon, len(batch) * world)
        critic_done = time.time()

        if sleep:
            generator.wake()
        generator.sync_weights(policy)
        syncs += 1
        every = config.generation.check_sync_every
        if every and syncs % every == 0 and hasattr(generator, "check_sync"):
            update_metrics.update(generator.check_sync(policy))
        synced = time.time()

        metrics = rollout_metrics(scores, completions, rewards_B, zero_std_P, task)
        metrics.update(update_metrics)
        metrics.update(advantage_metrics)
        metrics.update(sampling_metrics)
        generated_tokens = sum(len(c.token_ids) for c in completions)
        metrics.update({
            "lr": scheduler.get_last_lr()[0], "time/generate": generated - started, "time/score": scored - generated,
            "time/values": valued - scored, "time/update": updated - valued, "time/critic": critic_done - updated,
            "time/sync": synced - critic_done, "time/step": synced - started,
            "tokens_per_s": generated_tokens / max(generated - started, 1e-9),
        })
        metrics = _average_across_ranks(metrics, accelerator)
        metrics.update(dist_.per_rank_memory(accelerator))
        if metrics.get("loss/tokens", 1.0) == 0:  # no rank had a token to learn from: no update happened
            metrics.update({key: float("nan") for key in UPDATE_ONLY_METRICS if key in metrics})
        runlog.step(step, metrics)
        if runlog.enabled:  # a few completions with their rewards, for the run report
            runlog.samples(step, sample_rows(examples_P, completions, scores,
                                             lambda index: tokenizer.decode(prompt_ids[index])))
        steps_without_signal = steps_without_signal + 1 if metrics["groups/zero_std_share"] == 1.0 else 0
        if steps_without_signal == NO_SIGNAL_WARN_STEPS:
            say(f"WARNING: no learning signal: in each of the last {NO_SIGNAL_WARN_STEPS} steps every group's "
                f"{group_size} completions got equal rewards (groups/zero_std_share = 1.0), so there was nothing "
                f"to learn from. Rewards are all 0 (task too hard, answer never extracted: check format) or all 1; "
                f"try a larger generation.group_size or max_new_tokens, or an easier task")

        last = step == config.run.steps
        if config.run.eval_every and step % config.run.eval_every == 0 and not last:
            result = evaluate_held_out(generator, tokenizer, task, eval_examples, config, accelerator,
                                       pool=scorer.pool)
            runlog.write("eval.jsonl", dict(result, step=step))
            say(f"held-out at step {step}: {result}")
        if (config.run.save_every and step % config.run.save_every == 0) or last:
            checkpoints[0](out / "checkpoints", step, policy, tokenizer, optimizer, scheduler,
                            {"data_position": block * config.run.prompts_per_step, "history": history,
                             "kl_coef": kl_coef},
                            rank=rank, is_main=is_main, barrier=accelerator.wait_for_everyone, critic=critic)
            if is_main:
                prune_checkpoints(out / "checkpoints", config.run.keep_last)

    history["after"] = evaluate_held_out(generator, tokenizer, task, eval_examples, config, accelerator,
                                          pool=scorer.pool)
    runlog.write("eval.jsonl", dict(history["after"], step=config.run.steps))
    say(f"held-out after RL: {history['after']}")
    runlog.close()
    scorer.close()
    return {"before": history.get("before"), "after": history["after"], "steps": config.run.steps,
            "output_dir": str(out), "model": policy, "tokenizer": tokenizer, "generator": generator,
            "critic": critic.unwrapped if critic is not None else None}
