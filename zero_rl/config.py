"""Dataclass configs for `zero-rl train`, validated once, before any model loads.

A recipe is a YAML file whose sections mirror `TrainConfig`; command-line overrides are `section.field=value`.
"""

import ast
import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config value is wrong; the message names the field, the value and what is allowed."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _one_of(name: str, value: str, allowed) -> None:
    _check(value in allowed, f"{name}={value!r} is not valid; choose one of: {', '.join(sorted(allowed))}")


@dataclass
class ModelConfig:
    name_or_path: str | None = None
    """Hub name or local folder of a causal LM; None builds (once) and uses the embedded tiny base model."""
    dtype: str = "auto"
    """Training precision: auto (bf16 autocast where the hardware has native bf16: GPUs; float32 on CPU),
    float32, or bfloat16 (falls back to float32, logged, where bf16 is emulated and ~10x slower)."""
    gradient_checkpointing: bool = False
    """Trade compute for memory in the policy's backward pass."""
    lora: dict = field(default_factory=dict)
    """LoRA adapters with peft ({} = full fine-tuning): {rank, alpha, dropout, target_modules} (zero_rl/lora.py);
    the reference model is then the base with adapters disabled (no second copy)."""

    def __post_init__(self):
        _one_of("model.dtype", self.dtype, {"auto", "float32", "bfloat16"})
        from zero_rl.lora import check_lora_options

        check_lora_options(self.lora)


@dataclass
class TaskConfig:
    name: str = "arithmetic"
    """Registered task name (`zero-rl tasks` lists them)."""
    options: dict = field(default_factory=dict)
    """Task-specific keyword options, e.g. {data: path/or/hub-name, levels: [3, 4, 5]}."""
    eval_size: int = 200
    """Held-out problems used by the periodic and final evaluation (0 = all of the held-out split)."""
    eval_samples: int = 0
    """Sampled held-out eval: completions per problem (0: greedy only); logs pass@k, maj@k, mean@k."""
    eval_ks: list = field(default_factory=lambda: [1])
    """k values for the sampled held-out eval (each <= eval_samples)."""
    reward_workers: int = 0
    """Processes that score completions (0: score in the training process; use >0 for math-verify or code)."""
    reward_timeout_s: float = 10.0
    """Wall-clock limit per completion and reward in the pool; a timeout scores 0 and is counted."""
    overlong_buffer: int = 0
    """DAPO overlong shaping (rewards/length.py): a length penalty over the last N tokens before
    overlong_max_length, added to the reward as component 'overlong'; 0: off (DAPO: 4096 of 20480)."""
    overlong_max_length: int = 0
    """Overlong shaping's L_max in tokens; 0: generation.max_new_tokens."""
    overlong_penalty_factor: float = 1.0
    """Overlong shaping: the penalty's weight (-factor at L_max; verl's penalty_factor)."""

    def __post_init__(self):
        _check(self.eval_samples >= 0, f"task.eval_samples must be >= 0, got {self.eval_samples}")
        _check(not self.eval_samples or all(isinstance(k, int) and 1 <= k <= self.eval_samples for k in self.eval_ks),
               f"task.eval_ks must be integers in [1, eval_samples={self.eval_samples}], got {self.eval_ks}")
        _check(self.reward_workers >= 0, f"task.reward_workers must be >= 0, got {self.reward_workers}")
        _check(self.reward_timeout_s > 0, f"task.reward_timeout_s must be > 0, got {self.reward_timeout_s}")
        _check(isinstance(self.options, dict), f"task.options must be a mapping, got {type(self.options).__name__}")
        _check(self.eval_size >= 0, f"task.eval_size must be >= 0, got {self.eval_size}")
        _check(self.overlong_buffer >= 0, f"task.overlong_buffer must be >= 0, got {self.overlong_buffer}")
        _check(self.overlong_max_length >= 0, f"task.overlong_max_length must be >= 0, got {self.overlong_max_length}")
        _check(self.overlong_penalty_factor >= 0,
               f"task.overlong_penalty_factor must be >= 0, got {self.overlong_penalty_factor}")


@dataclass
class GenerationConfig:
    backend: str = "hf"
    """Generator: hf (transformers), vllm, or auto (vllm when it imports, else hf)."""
    group_size: int = 8
    """Completions sampled per prompt (G in GRPO)."""
    temperature: float = 1.0
    """Sampling temperature for training rollouts."""
    top_p: float = 1.0
    """Nucleus sampling threshold for training rollouts."""
    max_new_tokens: int = 64
    """Longest completion; longer ones are truncated (finish_reason 'length')."""
    stop: list = field(default_factory=list)
    """Extra stop strings (the end-of-text token always stops)."""
    gpu_memory_utilization: float = 0.3
    """vLLM: share of GPU memory for weights + KV cache (on CPU vLLM sizes its cache from VLLM_CPU_KVCACHE_SPACE)."""
    enable_sleep_mode: bool = False
    """vLLM: free the KV cache during the policy update and wake before generation (no-op on CPU)."""
    enable_prefix_caching: bool = True
    """vLLM: reuse KV blocks of shared prompt prefixes (the G completions of a prompt share it)."""
    tensor_parallel_size: int = 1
    """vLLM: GPUs one engine spans."""
    vllm_dtype: str = "auto"
    """vLLM weights dtype: auto (the training dtype), float32, bfloat16, float16."""
    importance_correction: bool = True
    """Truncated importance sampling (TIS) for the generator/trainer log-prob mismatch (vLLM only)."""
    importance_cap: float = 2.0
    """TIS cap C: each token's weight is min(exp(trainer_logp - generator_logp), C)."""
    check_sync_every: int = 0
    """vLLM: every N syncs, check greedy tokens and log-probs of a probe prompt against the trainer (0: never)."""
    sync_bucket_mb: float = 64.0
    """vLLM sync: weights gathered (FSDP2: one all-gather) and loaded per bucket of at most this many MB (a
    bigger tensor is its own bucket); the most extra memory a sync takes on the trainer's side."""

    def __post_init__(self):
        _one_of("generation.backend", self.backend, {"hf", "vllm", "auto"})
        _one_of("generation.vllm_dtype", self.vllm_dtype, {"auto", "float32", "bfloat16", "float16"})
        _check(0 < self.gpu_memory_utilization <= 1,
               f"generation.gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        _check(self.tensor_parallel_size >= 1,
               f"generation.tensor_parallel_size must be >= 1, got {self.tensor_parallel_size}")
        _check(self.importance_cap >= 1, f"generation.importance_cap must be >= 1, got {self.importance_cap}")
        _check(self.check_sync_every >= 0, f"generation.check_sync_every must be >= 0, got {self.check_sync_every}")
        _check(self.group_size >= 1, f"generation.group_size must be >= 1, got {self.group_size}")
        _check(self.temperature > 0, f"generation.temperature must be > 0 for training, got {self.temperature}")
        _check(0 < self.top_p <= 1, f"generation.top_p must be in (0, 1], got {self.top_p}")
        _check(self.max_new_tokens >= 1, f"generation.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        _check(self.sync_bucket_mb > 0, f"generation.sync_bucket_mb must be > 0, got {self.sync_bucket_mb}")


@dataclass
class AlgorithmConfig:
    name: str = "grpo"
    """grpo (group-relative advantages, no critic) or ppo (a learned critic, GAE advantages; see `critic`)."""
    advantage: str = "grpo"
    """GRPO's advantage estimator: grpo, dr_grpo, rloo (see zero_rl/advantages.py); PPO uses GAE."""
    loss_aggregation: str = "seq_mean_token_mean"
    """seq_mean_token_mean (GRPO), token_mean (DAPO), seq_mean_token_sum_norm (Dr.GRPO)."""
    clip_low: float = 0.2
    """Lower clip: the ratio is clipped at 1 - clip_low."""
    clip_high: float = 0.28
    """Upper clip (clip-higher, DAPO): the ratio is clipped at 1 + clip_high."""
    beta: float = 0.0
    """KL coefficient to the frozen reference; 0 loads no reference model."""
    kl_estimator: str = "k3"
    """KL estimator: k1, k2 or k3 (Schulman's low-variance estimator)."""
    update_epochs: int = 1
    """Policy updates (mu) per generated batch."""
    drop_zero_std_groups: bool = True
    """GRPO: leave groups whose rewards are all equal out of the update (their advantage is 0 anyway). PPO never
    drops them: the critic gives such groups nonzero advantages."""
    mask_truncated: bool = False
    """Give completions cut at max_new_tokens no loss."""
    std_eps: float = 1e-4
    """Added to the group std in grpo advantages."""
    gamma: float = 1.0
    """PPO: GAE discount."""
    lam: float = 1.0
    """PPO: GAE lambda of the critic's targets (returns); 1.0 = Monte-Carlo returns (ORZ, VC-PPO)."""
    lam_actor: float | None = None
    """PPO: GAE lambda of the actor's advantages (decoupled GAE, VC-PPO: 0.95 with lam 1.0); null: same as lam."""
    lam_actor_alpha: float = 0.0
    """PPO: length-adaptive lambda for the actor, 1 - 1/(alpha * length) per completion (VAPO: 0.05); 0: off."""
    whiten_advantages: bool = True
    """PPO: whiten the advantages over the batch's valid tokens (all ranks); the returns are taken before."""
    kl_reward_coef: float = 0.0
    """PPO: coefficient of a per-token k1 KL penalty to the reference model in the reward, before GAE (0: off;
    independent of beta, the KL in the loss); the initial value when kl_target > 0."""
    kl_target: float = 0.0
    """PPO: > 0 makes kl_reward_coef adaptive (Ziegler et al. 2019): it moves toward this per-token KL."""
    kl_horizon: int = 10000
    """PPO: the adaptive KL controller's horizon, in samples."""
    policy_loss: str = "ppo_clip"
    """Policy loss (zero_rl/losses.py POLICY_LOSSES): ppo_clip, gspo (sequence ratio), cispo, sapo (soft gate)."""
    clip_ratio_c: float = 3.0
    """Dual-clip (ppo_clip): for A < 0 the loss is capped at -A * c; 0 turns it off. On by default as verl: it only
    acts where the ratio exceeds c, i.e. off-policy (update_epochs > 1, or vLLM sampling drift)."""
    cispo_cap: float = 5.0
    """cispo: the importance ratio's upper cap (TRL's absolute epsilon_high; MiniMax-M1 has no lower bound)."""
    sapo_tau_pos: float = 1.0
    """sapo: the gate's temperature for tokens with A > 0."""
    sapo_tau_neg: float = 1.05
    """sapo: the gate's temperature for tokens with A <= 0."""
    entropy_coef: float = 0.0
    """Entropy bonus: the loss minus entropy_coef x the mean token entropy (aggregated as the loss); 0: off."""
    dynamic_sampling: bool = False
    """DAPO dynamic sampling (GRPO): drop groups whose rewards are all equal and generate from further prompts until
    the step has run.prompts_per_step informative groups (see zero_rl/dynamic_sampling.py)."""
    max_generation_rounds: int = 10
    """Dynamic sampling: generation rounds (each of run.prompts_per_step prompts) a step may take before it stops
    with an error (verl's max_num_gen_batches)."""
    # ---- online DPO (zero_rl/dpo.py)
    dpo_beta: float = 0.1
    """online_dpo: beta of the DPO loss (strength of the frozen reference); IPO's margin target is 1 / (2 beta)."""
    dpo_loss: str = "sigmoid"
    """online_dpo: sigmoid (DPO) or ipo."""
    dpo_length_normalize: bool = False
    """online_dpo: mean instead of sum of the completion's token log-probs (length-normalised DPO / IPO)."""
    dpo_pairs_per_group: int = 1
    """online_dpo: pairs per group (k-th best vs k-th worst; pairs with equal rewards are skipped)."""

    def __post_init__(self):
        from zero_rl.advantages import ADVANTAGES
        from zero_rl.losses import AGGREGATIONS, KL_ESTIMATORS

        _one_of("algorithm.name", self.name, ALGORITHMS)
        _check(0 <= self.gamma <= 1, f"algorithm.gamma must be in [0, 1], got {self.gamma}")
        _check(0 <= self.lam <= 1, f"algorithm.lam must be in [0, 1], got {self.lam}")
        _check(self.lam_actor is None or 0 <= self.lam_actor <= 1,
               f"algorithm.lam_actor must be in [0, 1] or null, got {self.lam_actor}")
        _check(self.lam_actor_alpha >= 0, f"algorithm.lam_actor_alpha must be >= 0, got {self.lam_actor_alpha}")
        _check(self.kl_reward_coef >= 0, f"algorithm.kl_reward_coef must be >= 0, got {self.kl_reward_coef}")
        _check(self.kl_target >= 0, f"algorithm.kl_target must be >= 0, got {self.kl_target}")
        _check(self.kl_horizon >= 1, f"algorithm.kl_horizon must be >= 1, got {self.kl_horizon}")
        _check(self.name == "ppo" or not (self.kl_reward_coef or self.kl_target),
               "algorithm.kl_reward_coef / kl_target put a KL penalty into PPO's per-token rewards; with "
               "algorithm.name=grpo use algorithm.beta (KL in the loss)")
        _check(not self.kl_target or self.kl_reward_coef > 0,
               f"algorithm.kl_target={self.kl_target} adapts kl_reward_coef, which is 0: set an initial "
               f"kl_reward_coef > 0 (e.g. 0.001)")
        _one_of("algorithm.advantage", self.advantage, ADVANTAGES)
        _one_of("algorithm.loss_aggregation", self.loss_aggregation, AGGREGATIONS)
        _one_of("algorithm.kl_estimator", self.kl_estimator, KL_ESTIMATORS)
        _check(0 < self.clip_low < 1, f"algorithm.clip_low must be in (0, 1), got {self.clip_low}")
        _check(self.clip_high > 0, f"algorithm.clip_high must be > 0, got {self.clip_high}")
        _check(self.beta >= 0, f"algorithm.beta must be >= 0, got {self.beta}")
        _check(self.update_epochs >= 1, f"algorithm.update_epochs must be >= 1, got {self.update_epochs}")
        _check(self.std_eps > 0, f"algorithm.std_eps must be > 0, got {self.std_eps}")
        _check(self.dpo_beta > 0, f"algorithm.dpo_beta must be > 0, got {self.dpo_beta}")
        _one_of("algorithm.dpo_loss", self.dpo_loss, {"sigmoid", "ipo"})
        _check(self.dpo_pairs_per_group >= 1, f"algorithm.dpo_pairs_per_group must be >= 1, got {self.dpo_pairs_per_group}")
        self._check_policy_loss()

    def _check_policy_loss(self):
        from zero_rl.losses import POLICY_LOSSES

        _one_of("algorithm.policy_loss", self.policy_loss, POLICY_LOSSES)
        _check(self.clip_ratio_c == 0 or self.clip_ratio_c > 1,
               f"algorithm.clip_ratio_c must be 0 (dual-clip off) or > 1 (verl: 3.0), got {self.clip_ratio_c}")
        _check(self.cispo_cap > 0, f"algorithm.cispo_cap must be > 0 (TRL/ScaleRL: 5.0), got {self.cispo_cap}")
        _check(self.sapo_tau_pos > 0 and self.sapo_tau_neg > 0,
               f"algorithm.sapo_tau_pos / sapo_tau_neg must be > 0 (paper: 1.0 / 1.05), got "
               f"{self.sapo_tau_pos} / {self.sapo_tau_neg}")
        _check(self.entropy_coef >= 0, f"algorithm.entropy_coef must be >= 0, got {self.entropy_coef}")
        _check(self.max_generation_rounds >= 1,
               f"algorithm.max_generation_rounds must be >= 1, got {self.max_generation_rounds}")
        _check(self.policy_loss != "gspo" or self.loss_aggregation == "seq_mean_token_mean",
               f"algorithm.policy_loss=gspo is a per-sequence objective: it needs "
               f"algorithm.loss_aggregation=seq_mean_token_mean, got {self.loss_aggregation!r}")
        _check(not self.dynamic_sampling or self.name == "grpo",
               "algorithm.dynamic_sampling drops groups whose rewards are all equal, which carry no signal only "
               "for group baselines: use it with algorithm.name=grpo (PPO's critic learns from every group)")


ALGORITHMS = ("grpo", "ppo", "online_dpo")


@dataclass
class OptimConfig:
    lr: float = 3e-4
    """AdamW peak learning rate (the default suits the embedded tiny model; real models want ~1e-6)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    betas: list = field(default_factory=lambda: [0.9, 0.99])
    """AdamW betas."""
    warmup_steps: int = 5
    """Linear warm-up steps from 0 to lr."""
    schedule: str = "constant"
    """After warm-up: constant, linear (to 0 at the last step) or cosine."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip (0 disables)."""
    micro_batch_size: int = 64
    """Sequences per forward/backward; the step's batch is accumulated over micro-batches."""
    micro_batch_tokens: int = 0
    """If > 0: micro-batches by token budget instead of micro_batch_size, each holding about this many real
    (prompt + completion) tokens, cut to its own rows' widths (verl's dynamic batch size)."""
    share_prompt_forward: bool = True
    """Run each prompt's forward once per micro-batch and its completions on the prompt's KV cache (same values
    and gradients as one forward per row, fewer FLOPs: the G completions of a prompt share it)."""

    def __post_init__(self):
        _check(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        _check(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
               f"optim.betas must be two numbers in [0, 1), got {self.betas}")
        _check(self.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        _one_of("optim.schedule", self.schedule, {"constant", "linear", "cosine"})
        _check(self.max_grad_norm >= 0, f"optim.max_grad_norm must be >= 0, got {self.max_grad_norm}")
        _check(self.micro_batch_size >= 1, f"optim.micro_batch_size must be >= 1, got {self.micro_batch_size}")
        _check(self.micro_batch_tokens >= 0, f"optim.micro_batch_tokens must be >= 0, got {self.micro_batch_tokens}")


@dataclass
class CriticConfig:
    """PPO's critic (zero_rl/critic.py); unused by GRPO."""

    name_or_path: str | None = None
    """Backbone of the value model: hub name or folder; null: a copy of the policy's base checkpoint."""
    lr: float | None = None
    """AdamW peak learning rate; null: lr_ratio x optim.lr."""
    lr_ratio: float = 5.0
    """The critic's learning rate as a multiple of the actor's when lr is null (ORZ: 5x, OpenRLHF: 9x)."""
    weight_decay: float = 0.0
    """AdamW weight decay (the other AdamW settings are optim's)."""
    lr_warmup_steps: int = 0
    """Linear warm-up of the critic's learning rate, in steps."""
    schedule: str = "constant"
    """After warm-up: constant, linear or cosine (to 0 at the last step)."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip (0 disables)."""
    micro_batch_size: int = 64
    """Sequences per forward/backward of the critic."""
    micro_batch_tokens: int = 0
    """If > 0: micro-batches by token budget instead of micro_batch_size (as optim.micro_batch_tokens)."""
    update_epochs: int = 1
    """Critic optimizer steps per generated batch, each over the whole batch (ORZ: 12)."""
    value_clip: float = 0.5
    """Value clipping: the new value may move at most this far from the rollout's (verl 0.5, ORZ 0.2); 0: off."""
    warmup_steps: int = 0
    """The first N training steps update only the critic (the actor and its schedule wait; verl critic_warmup)."""
    pretrain_steps: int = 0
    """Value pretraining (VC-PPO): N critic-only steps on Monte-Carlo returns of the initial policy, before step 1."""

    def __post_init__(self):
        _check(self.lr is None or self.lr > 0, f"critic.lr must be > 0 or null, got {self.lr}")
        _check(self.lr_ratio > 0, f"critic.lr_ratio must be > 0, got {self.lr_ratio}")
        _check(self.weight_decay >= 0, f"critic.weight_decay must be >= 0, got {self.weight_decay}")
        _check(self.lr_warmup_steps >= 0, f"critic.lr_warmup_steps must be >= 0, got {self.lr_warmup_steps}")
        _one_of("critic.schedule", self.schedule, {"constant", "linear", "cosine"})
        _check(self.max_grad_norm >= 0, f"critic.max_grad_norm must be >= 0, got {self.max_grad_norm}")
        _check(self.micro_batch_size >= 1, f"critic.micro_batch_size must be >= 1, got {self.micro_batch_size}")
        _check(self.micro_batch_tokens >= 0, f"critic.micro_batch_tokens must be >= 0, got {self.micro_batch_tokens}")
        _check(self.update_epochs >= 1, f"critic.update_epochs must be >= 1, got {self.update_epochs}")
        _check(self.value_clip >= 0, f"critic.value_clip must be >= 0, got {self.value_clip}")
        _check(self.warmup_steps >= 0, f"critic.warmup_steps must be >= 0, got {self.warmup_steps}")
        _check(self.pretrain_steps >= 0, f"critic.pretrain_steps must be >= 0, got {self.pretrain_steps}")


@dataclass
class RunConfig:
    steps: int = 60
    """Training steps (one generated batch each)."""
    prompts_per_step: int = 32
    """Prompts per step across all processes; each process takes an equal share."""
    seed: int = 0
    """Seed for data order, sampling and initialisation."""
    output_dir: str = "runs/latest"
    """Run directory: config.yaml, metrics.jsonl, eval.jsonl, checkpoints/."""
    eval_every: int = 20
    """Held-out evaluation every N steps (0: only before and after training)."""
    save_every: int = 0
    """Checkpoint every N steps (0: only at the end)."""
    keep_last: int = 0
    """Keep only the newest N checkpoints, deleting older ones after each save (0: keep all)."""
    resume: bool = False
    """Resume from the latest checkpoint in output_dir: model, optimizer, scheduler, RNG, step, data position."""
    progress: bool = True
    """Show a live progress display (metrics are written to metrics.jsonl either way)."""
    report_to: list = field(default_factory=list)
    """Experiment trackers that get every metrics.jsonl row too (main process): any of tensorboard, wandb,
    trackio, mlflow (each an optional extra: pip install 'zero-rl[tensorboard]'); [] = metrics.jsonl only."""

    def __post_init__(self):
        _check(self.steps >= 1, f"run.steps must be >= 1, got {self.steps}")
        _check(self.prompts_per_step >= 1, f"run.prompts_per_step must be >= 1, got {self.prompts_per_step}")
        _check(self.eval_every >= 0, f"run.eval_every must be >= 0, got {self.eval_every}")
        _check(self.save_every >= 0, f"run.save_every must be >= 0, got {self.save_every}")
        _check(self.keep_last >= 0, f"run.keep_last must be >= 0, got {self.keep_last}")
        from zero_rl.trackers import TRACKERS

        _check(all(name in TRACKERS for name in self.report_to),
               f"run.report_to={self.report_to!r}: choose any of {', '.join(TRACKERS)} (an empty list: none)")


@dataclass
class DistributedConfig:
    """How the policy, reference and critic are held across processes (zero_rl/distributed.py)."""

    strategy: str = "ddp"
    """ddp (every process holds full weights, gradients all-reduced) or fsdp2 (torch fully_shard per decoder
    layer + root: parameters, gradients and optimizer state sharded across processes)."""
    reshard_after_forward: bool = True
    """fsdp2: free the gathered layer after its forward and gather again for backward (ZeRO-3); false keeps it
    until backward (ZeRO-2-like, more memory, less communication)."""
    cpu_offload: bool = False
    """fsdp2: keep sharded parameters, gradients and optimizer state in CPU memory (torch CPUOffloadPolicy)."""
    param_dtype: str = "float32"
    """fsdp2 mixed precision: dtype of the gathered parameters used in forward/backward (master weights stay
    float32): float32 or bfloat16."""
    reduce_dtype: str = "float32"
    """fsdp2 mixed precision: dtype of the gradient reduce-scatter: float32 or bfloat16."""
    timeout_s: float = 1800.0
    """Timeout of every collective (process-group timeout): a rank that skips or reorders a collective fails
    the run with an error after this long instead of hanging it."""

    def __post_init__(self):
        _one_of("distributed.strategy", self.strategy, {"ddp", "fsdp2"})
        _one_of("distributed.param_dtype", self.param_dtype, {"float32", "bfloat16"})
        _one_of("distributed.reduce_dtype", self.reduce_dtype, {"float32", "bfloat16"})
        _check(self.timeout_s > 0, f"distributed.timeout_s must be > 0, got {self.timeout_s}")


@dataclass
class RewardModelConfig:
    """A learned reward model as one more reward term (zero_rl/reward_model.py); off while name_or_path is null."""

    name_or_path: str | None = None
    """Folder or hub name of an AutoModelForSequenceClassification with num_labels=1 (`zero-rl train-rm` makes one)."""
    weight: float = 1.0
    """Weight of its score in the total reward (logged as reward/reward_model)."""
    batch_size: int = 32
    """Prompt + completion texts scored per forward, on the trainer's device."""
    normalize: bool = False
    """Standardise the scores over the step's batch (mean 0, std 1) before weighting."""
    process_separator: str | None = None
    """Learned process reward model: score each prefix ending before this separator (and the whole completion)
    as step scores (process rewards) instead of one score per completion; null: one score."""

    def __post_init__(self):
        _check(self.batch_size >= 1, f"reward_model.batch_size must be >= 1, got {self.batch_size}")
        _check(self.process_separator != "", "reward_model.process_separator must be a non-empty string or null")


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    run: RunConfig = field(default_factory=RunConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    reward_model: RewardModelConfig = field(default_factory=RewardModelConfig)

    def __post_init__(self):
        _check(self.algorithm.name != "online_dpo" or self.distributed.strategy == "ddp",
               "algorithm.name=online_dpo runs with distributed.strategy=ddp only (its pair update is not written for "
               "fsdp2's sharded collectives); use ddp")
        _check(self.generation.group_size >= 2 or self.algorithm.name == "ppo",
               f"generation.group_size must be >= 2 for group baselines (algorithm.name={self.algorithm.name}), got "
               f"{self.generation.group_size}; PPO's critic allows 1")
        max_length = self.task.overlong_max_length or self.generation.max_new_tokens
        _check(self.task.overlong_buffer < max_length,
               f"task.overlong_buffer={self.task.overlong_buffer} must be smaller than the overlong max length "
               f"{max_length} (task.overlong_max_length, or generation.max_new_tokens when 0)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """Check `value` against a field annotation, converting where the conversion is lossless (int -> float)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, name)
            except ConfigError:
                pass
        raise ConfigError(f"{name}={value!r} has the wrong type; expected {annotation}")
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    base = origin or annotation
    if base is Any:
        return value
    if base is bool and not isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} must be true or false")
    if base in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} must be a number")
    if base is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, base):
        raise ConfigError(f"{name}={value!r} has the wrong type; expected {getattr(base, '__name__', base)}")
    return value


def _build_section(cls, values: dict, section: str):
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(sorted(f'{section}.{k}' for k in unknown))}; "
                          f"{section} has: {', '.join(sorted(known))}")
    kwargs = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()}
    return cls(**kwargs)


SECTIONS = {f.name: f.type for f in dataclasses.fields(TrainConfig)}


def parse_override(text: str) -> tuple[str, str, Any]:
    """'algorithm.beta=0.01' -> ('algorithm', 'beta', 0.01); the value is read as YAML."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"override {text!r} must look like section.field=value, e.g. run.steps=50")
    key, raw = text.split("=", 1)
    section, name = key.split(".", 1)
    if section not in SECTIONS:
        raise ConfigError(f"override {text!r}: unknown section {section!r}; sections: {', '.join(SECTIONS)}")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as error:
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({_yaml_problem(error)})") from None
    return section, name, value


def _yaml_problem(error: yaml.YAMLError) -> str:
    """One line from a YAML error: the problem and its line."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(error, 'problem', None) or error}{where}"


def _set_override(section_values: dict, section: str, name: str, value: Any) -> None:
    """`name` is a field, or `field.key` for a key inside a mapping field (task.options.data=...)."""
    head, dot, key = name.partition(".")
    if not dot:
        section_values[name] = value
        return
    known = {f.name for f in dataclasses.fields(SECTIONS[section])}
    if head not in known:
        raise ConfigError(f"override {section}.{name}: unknown field {section}.{head}; "
                          f"{section} has: {', '.join(sorted(known))}")
    inner = section_values.get(head, {})
    if not isinstance(inner, dict):
        raise ConfigError(f"override {section}.{name}: {section}.{head} is not a mapping; "
                          f"use {section}.{head}=value")
    inner = dict(inner)
    inner[key] = value
    section_values[head] = inner


def build_config(recipe: dict | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Recipe dict (from YAML) + overrides -> validated TrainConfig. Raises ConfigError on any bad value."""
    recipe = dict(recipe or {})
    unknown = set(recipe) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown section(s) {', '.join(sorted(unknown))}; sections: {', '.join(SECTIONS)}")
    for section, values in recipe.items():
        _check(values is None or isinstance(values, dict),
               f"section {section!r} must be a mapping of fields (e.g. {section}: {{field: value}}), "
               f"got {type(values).__name__} {values!r}")
    merged = {section: dict(recipe.get(section) or {}) for section in SECTIONS}
    for text in overrides:
        section, name, value = parse_override(text)
        _set_override(merged[section], section, name, value)
    return TrainConfig(**{s: _build_section(SECTIONS[s], merged[s], s) for s in SECTIONS})


def load_config(path: str | None, overrides: list[str] = ()) -> TrainConfig:
    recipe = {}
    if path:
        with open(path) as f:
            try:
                recipe = yaml.safe_load(f) or {}
            except yaml.YAMLError as error:
                raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(error)}") from None
        if not isinstance(recipe, dict):
            raise ConfigError(f"{path}: a recipe must be a mapping of sections, got {type(recipe).__name__}")
    return build_config(recipe, overrides)


# ---------------------------------------------------------------- describing and comparing configs


def field_docs(cls) -> dict:
    """{field: its one-line docstring} read from the class source (the string under each field)."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _inline_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()


def describe(config: TrainConfig) -> str:
    """The resolved config as a YAML recipe, each field followed by its doc as a comment."""
    lines = []
    for section, cls in SECTIONS.items():
        docs = field_docs(cls)
        lines.append(f"{section}:")
        for f in dataclasses.fields(cls):
            value = _inline_yaml(getattr(getattr(config, section), f.name))
            doc = docs.get(f.name, "")
            lines.append(f"  {f.name}: {value}" + (f"  # {doc}" if doc else ""))
    return "\n".join(lines)


RESUMABLE_CHANGES = {
    "run.steps", "run.eval_every", "run.save_every", "run.keep_last", "run.resume", "run.progress", "run.output_dir",
    "task.eval_size", "task.eval_samples", "task.eval_ks", "task.reward_workers", "task.reward_timeout_s",
    "generation.backend", "generation.gpu_memory_utilization", "generation.enable_sleep_mode",
    "generation.enable_prefix_caching", "generation.tensor_parallel_size", "generation.check_sync_every",
    "optim.micro_batch_size", "critic.micro_batch_size", "model.gradient_checkpointing",
    "generation.sync_bucket_mb", "distributed.timeout_s",
}
"""Fields a resumed run may change: length, evaluation, logging and how the work is laid out. Everything else
(model, task, sampling, algorithm, optimizer, batch shape, seed) must match the run being resumed."""
RESUMABLE_CHANGES.add("run.report_to")  # trackers are logging only


def resume_differences(saved: dict, new: dict) -> list[str]:
    """['optim.lr: 0.0003 -> 1e-05', ...]: fields that differ between a saved run config and a new one and may
    not change on resume. A field the saved config lacks (written by an older version) is not compared."""
    differences = []
    for section, values in new.items():
        for name, value in values.items():
            key = f"{section}.{name}"
            old_section = saved.get(section) or {}
            if key in RESUMABLE_CHANGES or name not in old_section:
                continue
            if old_section[name] != value:
                differences.append(f"{key}: {old_section[name]!r} -> {value!r}")
    return differences
