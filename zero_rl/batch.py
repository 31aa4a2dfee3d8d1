"""From completions to training tensors, and the policy's per-token log-probs on them.

Layout: prompts left-padded to a common width P, completions right-padded to a common width T, so every
completion starts at column P and the logits for it are the model's last T+1 positions.
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

    def __len__(self):
        return self.input_ids_BL.shape[0]

    def select(self, index) -> "RolloutBatch":
        return RolloutBatch(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @property
    def completion_width(self) -> int:
        return self.completion_mask_BT.shape[1]


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
    return RolloutBatch(input_ids, attention, position_ids, completion_mask, behaviour, truncated)


def completion_logprobs(model, batch: RolloutBatch, temperature: float = 1.0, with_entropy: bool = False):
    """Per-token log-probs of the completion tokens under `model` at `temperature`: logp_BT (and entropy_BT)."""
    T = batch.completion_width
    device = next(model.parameters()).device
    logits_BTV = model(
        input_ids=batch.input_ids_BL.to(device),
        attention_mask=batch.attention_mask_BL.to(device),
        position_ids=batch.position_ids_BL.to(device),
        logits_to_keep=T + 1,
        use_cache=False,
    ).logits[:, :-1].float()
    if temperature != 1.0:
        logits_BTV = logits_BTV / temperature
    targets_BT = batch.input_ids_BL[:, -T:].to(device)
    log_norm_BT = torch.logsumexp(logits_BTV, dim=-1)
    logp_BT = logits_BTV.gather(-1, targets_BT.unsqueeze(-1)).squeeze(-1) - log_norm_BT
    if not with_entropy:
        return logp_BT, None
    with torch.no_grad():
        probs_BTV = torch.softmax(logits_BTV, dim=-1)
        entropy_BT = log_norm_BT - (probs_BTV * logits_BTV).sum(-1)
    return logp_BT, entropy_BT
