"""From completions to training tensors, and the policy's per-token log-probs on them.

Layout: prompts left-padded to a common width P, completions right-padded to a common width T, so every
completion starts at column P and the logits for it are the model's last T+1 positions.

Two things keep the training forward cheap:
- shared prompts: the G completions of a prompt share it, so its forward runs once per prompt and the
  completions run on its KV cache (gradients flow back into the prompt's activations through the cache);
- row-chunked log-probs: the log-prob of the sampled token and the entropy are computed a chunk of rows at a
  time, with a backward that recomputes the softmax per chunk, so no [B, T, V] float32 log-softmax or softmax
  is ever held (Qwen's V is 151,936: 8 x 1024 tokens of it are 5 GB per copy).
"""

from dataclasses import dataclass

import torch


@dataclass
class RolloutBatch:
    input_ids_BL: torch.Tensor  # [B, P + T] left-padded prompt, then completion, then right padding
    attention_mask_BL: torch.Tensor
    position_ids_BL: torch.Tensor
    completion_mask_BT: torch.Tensor  # 1.0 on completion tokens
    behaviour_logp_BT: torch.Tensor  # generator's log-probs of the sampled tokens (0 where unknown)
    truncated_B: torch.Tensor  # bool: cut at max_new_tokens
    prompt_index_B: torch.Tensor  # long: which prompt each row completes (rows of one prompt share its tokens)

    def __len__(self):
        return self.input_ids_BL.shape[0]

    def select(self, index) -> "RolloutBatch":
        return RolloutBatch(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @property
    def completion_width(self) -> int:
        return self.completion_mask_BT.shape[1]

    @property
    def prompt_width(self) -> int:
        return self.input_ids_BL.shape[1] - self.completion_width

    def trimmed(self) -> "RolloutBatch":
        """The same rows without the columns that are padding in every row (a micro-batch of short rows
        then costs what its own rows need, not what the longest row of the whole step needed)."""
        P, T = self.prompt_width, self.completion_width
        prompt_used = self.attention_mask_BL[:, :P].any(dim=0).nonzero()
        start = int(prompt_used[0]) if len(prompt_used) else P
        width_T = max(1, int(self.completion_mask_BT.sum(dim=1).max()) if len(self) else 1)
        if start == 0 and width_T == T:
            return self
        columns = slice(start, P + width_T)
        return RolloutBatch(self.input_ids_BL[:, columns], self.attention_mask_BL[:, columns],
                            self.position_ids_BL[:, columns], self.completion_mask_BT[:, :width_T],
                            self.behaviour_logp_BT[:, :width_T], self.truncated_B, self.prompt_index_B)


def build_batch(prompt_ids: list, completions: list, pad_id: int) -> RolloutBatch:
    """prompt_ids[i] are the tokens of prompt i; completions carry prompt_index, token_ids, logprobs."""
    width_P = max(len(prompt_ids[c.prompt_index]) for c in completions)
    width_T = max(1, max(len(c.token_ids) for c in completions))
    B = len(completions)
    input_ids = torch.full((B, width_P + width_T), pad_id, dtype=torch.long)
    attention = torch.zeros((B, width_P + width_T), dtype=torch.long)
    completion_mask = torch.zeros((B, width_T))
    behaviour = torch.zeros((B, width_T))
    for row, c in enumerate(completions):
        prompt = prompt_ids[c.prompt_index]
        input_ids[row, width_P - len(prompt): width_P] = torch.tensor(prompt, dtype=torch.long)
        attention[row, width_P - len(prompt): width_P] = 1
        n = len(c.token_ids)
        if n:
            input_ids[row, width_P: width_P + n] = torch.tensor(c.token_ids, dtype=torch.long)
            attention[row, width_P: width_P + n] = 1
            completion_mask[row, :n] = 1.0
            if c.logprobs is not None:
                behaviour[row, :n] = torch.tensor(c.logprobs[:n], dtype=torch.float)
    position_ids = (attention.cumsum(dim=1) - 1).clamp(min=0)
    truncated = torch.tensor([c.finish_reason == "length" for c in completions])
    prompt_index = torch.tensor([c.prompt_index for c in completions], dtype=torch.long)
    return RolloutBatch(input_ids, attention, position_ids, completion_mask, behaviour, truncated, prompt_index)


class _TokenLogprob(torch.autograd.Function):
    """log softmax(logits / temperature)[target] per row, computed `chunk_rows` rows at a time. Saves only the
    logits (already held by the model's graph) and one log-normaliser per row; the backward recomputes each
    chunk's softmax: d logp / d logits = (onehot(target) - softmax) / temperature."""

    @staticmethod
    def forward(ctx, logits_NV, targets_N, temperature, chunk_rows):
        logp_N = torch.empty(logits_NV.shape[0], dtype=torch.float32, device=logits_NV.device)
        log_norm_N = torch.empty_like(logp_N)
        for start in range(0, logits_NV.shape[0], chunk_rows):
            rows = slice(start, start + chunk_rows)
            scaled_CV = logits_NV[rows].float() / temperature
            log_norm_N[rows] = torch.logsumexp(scaled_CV, dim=-1)
            logp_N[rows] = scaled_CV.gather(-1, targets_N[rows].unsqueeze(-1)).squeeze(-1) - log_norm_N[rows]
        ctx.save_for_backward(logits_NV, targets_N, log_norm_N)
        ctx.temperature, ctx.chunk_rows = temperature, chunk_rows
        return logp_N

    @staticmethod
    def backward(ctx, grad_logp_N):
        logits_NV, targets_N, log_norm_N = ctx.saved_tensors
        grad_NV = torch.empty_like(logits_NV)
        for start in range(0, logits_NV.shape[0], ctx.chunk_rows):
            rows = slice(start, start + ctx.chunk_rows)
            probs_CV = torch.exp(logits_NV[rows].float() / ctx.temperature - log_norm_N[rows].unsqueeze(-1))
            grad_CV = -probs_CV
            grad_CV.scatter_add_(-1, targets_N[rows].unsqueeze(-1), torch.ones_like(log_norm_N[rows]).unsqueeze(-1))
            grad_NV[rows] = (grad_CV * (grad_logp_N[rows] / ctx.temperature).unsqueeze(-1)).to(grad_NV.dtype)
        return grad_NV, None, None, None


CHUNK_ELEMENTS = 1 << 22
"""Logits entries per chunk (16 MB in float32): 27 rows of Qwen's 151,936-token vocabulary, 6,500 of the
embedded model's 640, so small vocabularies are not cut at all."""


def _rows_per_chunk(logits_NV, chunk_rows: int | None) -> int:
    return chunk_rows or max(1, CHUNK_ELEMENTS // logits_NV.shape[-1])


def token_logprobs(logits_NV, targets_N, temperature: float = 1.0, chunk_rows: int | None = None):
    """Log-prob of each row's target token under softmax(logits / temperature); the memory it needs beyond the
    logits and their gradient grows with the chunk (default: CHUNK_ELEMENTS entries), not with the vocabulary."""
    return _TokenLogprob.apply(logits_NV, targets_N, float(temperature), _rows_per_chunk(logits_NV, chunk_rows))


@torch.no_grad()
def token_entropy(logits_NV, temperature: float = 1.0, chunk_rows: int | None = None):
    """Entropy of softmax(logits / temperature) per row, a chunk of rows at a time (no gradient)."""
    chunk_rows = _rows_per_chunk(logits_NV, chunk_rows)
    entropy_N = torch.empty(logits_NV.shape[0], dtype=torch.float32, device=logits_NV.device)
    for start in range(0, logits_NV.shape[0], chunk_rows):
        scaled_CV = logits_NV[start: start + chunk_rows].float() / temperature
        log_probs_CV = torch.log_softmax(scaled_CV, dim=-1)
        entropy_N[start: start + chunk_rows] = -(log_probs_CV.exp() * log_probs_CV).sum(-1)
    return entropy_N


def differentiable_entropy(logits_NV, temperature: float = 1.0, chunk_rows: int | None = None):
    """token_entropy with its gradient (for an entropy bonus in the loss): holds the [N, V] softmax for backward."""
    log_probs_NV = torch.log_softmax(logits_NV.float() / temperature, dim=-1)
    return -(log_probs_NV.exp() * log_probs_NV).sum(-1)


def _completion_logits_shared(model, batch: RolloutBatch, device):
    """Logits predicting each completion token, [B, T, V], with each distinct prompt's forward run once: the
    prompts go through the model with a KV cache, the cache is indexed out to the rows (so the gradient of
    every row flows back into its prompt's single forward), and the completions run on it."""
    P, T = batch.prompt_width, batch.completion_width
    unique_U, row_to_unique_B = torch.unique(batch.prompt_index_B, return_inverse=True)
    rows_by_prompt = torch.argsort(row_to_unique_B, stable=True)
    counts_U = torch.bincount(row_to_unique_B, minlength=len(unique_U))
    first_row_U = rows_by_prompt[torch.cumsum(counts_U, 0) - counts_U]  # rows of a prompt hold the same tokens
    prompt = model(
        input_ids=batch.input_ids_BL[first_row_U, :P].to(device),
        attention_mask=batch.attention_mask_BL[first_row_U, :P].to(device),
        position_ids=batch.position_ids_BL[first_row_U, :P].to(device),
        use_cache=True, logits_to_keep=1,
    )
    first_logits_B1V = prompt.logits[row_to_unique_B.to(device)]
    if T == 1:
        return first_logits_B1V
    cache = prompt.past_key_values
    cache.batch_select_indices(row_to_unique_B.to(device))
    rest = model(
        input_ids=batch.input_ids_BL[:, P: P + T - 1].to(device),
        attention_mask=batch.attention_mask_BL[:, : P + T - 1].to(device),
        position_ids=batch.position_ids_BL[:, P: P + T - 1].to(device),
        past_key_values=cache, use_cache=True,
    )
    return torch.cat([first_logits_B1V, rest.logits], dim=1)


def completion_position_outputs(model, batch: RolloutBatch, share_prompts: bool = True):
    """The model's output `.logits` at the positions that predict each completion token, [B, T, X], for the
    batch as given (callers trim it first). For a causal LM X is the vocabulary; for the critic's value model
    (zero_rl/critic.py), whose `.logits` are values, X = 1: both run this one forward, with the shared-prompt
    KV cache when prompts repeat."""
    device = next(model.parameters()).device
    shared = share_prompts and len(torch.unique(batch.prompt_index_B)) < len(batch) and batch.prompt_width > 0
    if shared:
        return _completion_logits_shared(model, batch, device)
    return model(
        input_ids=batch.input_ids_BL.to(device),
        attention_mask=batch.attention_mask_BL.to(device),
        position_ids=batch.position_ids_BL.to(device),
        logits_to_keep=batch.completion_width + 1,
        use_cache=False,
    ).logits[:, :-1]


def completion_logprobs(model, batch: RolloutBatch, temperature: float = 1.0, with_entropy: bool = False,
                        share_prompts: bool = True, chunk_rows: int | None = None, entropy_grad: bool = False):
    """Per-token log-probs of the completion tokens under `model` at `temperature`: logp_BT (and entropy_BT,
    else None), float32. `share_prompts` runs each distinct prompt's forward once (same values and gradients
    as the plain forward, within floating-point summation order)."""
    T = batch.completion_width
    work = batch.trimmed()
    T_used = work.completion_width
    device = next(model.parameters()).device
    logits_BTV = completion_position_outputs(model, work, share_prompts)
    B, _, V = logits_BTV.shape
    logits_NV = logits_BTV.reshape(B * T_used, V)
    targets_N = work.input_ids_BL[:, -T_used:].reshape(-1).to(device)
    logp_BT = token_logprobs(logits_NV, targets_N, temperature, chunk_rows).view(B, T_used)
    entropy_fn = differentiable_entropy if entropy_grad else token_entropy  # entropy_grad: for an entropy bonus
    entropy_BT = entropy_fn(logits_NV, temperature, chunk_rows).view(B, T_used) if with_entropy else None
    if T_used < T:  # back to the step's width; the extra columns are padding (mask 0)
        logp_BT = torch.nn.functional.pad(logp_BT, (0, T - T_used))
        entropy_BT = torch.nn.functional.pad(entropy_BT, (0, T - T_used)) if entropy_BT is not None else None
    return logp_BT, entropy_BT
