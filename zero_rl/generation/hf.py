"""Transformers backend: `model.generate` on the training model itself, so weight sync is free."""

import torch
from transformers import LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

from zero_rl.generation import Completion, SamplingParams


def left_pad(prompt_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in prompt_ids)
    input_ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for row, ids in enumerate(prompt_ids):
        input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, width - len(ids):] = 1
    return input_ids, attention_mask


def cut_at_stop(text: str, stop: list) -> tuple[str, bool]:
    """Cut text before the earliest stop string; True if one was found."""
    positions = [text.find(s) for s in stop if s and s in text]
    return (text[: min(positions)], True) if positions else (text, False)


class SampledTokenLogprobs(LogitsProcessor):
    """Last in the processor chain: the behaviour log-prob of each sampled token, one step at a time.

    `output_scores=True` would keep the processed [N, V] scores of every step until generation ends (1.8 MB per
    token with a 151,936-token vocabulary, 4 GB for 32 x 64 tokens). This keeps one step's log-softmax and
    gathers the sampled token's entry when the next step shows it in input_ids (`finish` takes the last one).
    """

    def __init__(self):
        self.pending_NV = None
        self.logprobs = []

    def __call__(self, input_ids, scores):
        if self.pending_NV is not None:
            self.logprobs.append(self.pending_NV.gather(-1, input_ids[:, -1:]).squeeze(-1))
        self.pending_NV = scores.float().log_softmax(-1)
        return scores

    def finish(self, new_ids_NT: torch.Tensor) -> torch.Tensor:
        """token_logp_NT for the generated tokens new_ids_NT."""
        if self.pending_NV is not None and len(self.logprobs) < new_ids_NT.shape[1]:
            column = new_ids_NT[:, len(self.logprobs)].to(self.pending_NV.device)
            self.logprobs.append(self.pending_NV.gather(-1, column.unsqueeze(-1)).squeeze(-1))
        self.pending_NV = None
        if not self.logprobs:
            return torch.zeros(new_ids_NT.shape)
        return torch.stack(self.logprobs, dim=1)[:, : new_ids_NT.shape[1]].float().cpu()


@torch.no_grad()
def shared_prompt_sample(model, prompt_ids: list[list[int]], params: SamplingParams, eos_id: int, pad_id: int):
    """Sample params.n completions of every prompt: (new_ids_NT, token_logp_NT), prompt-major rows.

    Each prompt's prefill runs once and its KV cache is repeated for its n completions (transformers' `generate`
    repeats the prompt n times first and prefills every copy). Each step draws from softmax of the logits after
    temperature and top-p (transformers' own TopPLogitsWarper) and records the drawn token's log-prob there;
    a row stops at the end-of-text token and is padded after it. Once a quarter of the rows in the batch have
    finished, they leave the batch and the cache, so the long tail of a group costs only its own rows.
    Temperature 0 is greedy.
    """
    from zero_rl.distributed import all_ranks_true, is_sharded

    # fsdp2: each forward all-gathers weights, so a rank whose rows are done keeps stepping until all ranks are
    # (what finished rows draw is never recorded)
    all_done = all_ranks_true if is_sharded(model) else bool
    device = next(model.parameters()).device
    ids_UL, mask_UL = left_pad(prompt_ids, pad_id)
    ids_UL, mask_UL = ids_UL.to(device), mask_UL.to(device)
    positions_UL = (mask_UL.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids_UL, attention_mask=mask_UL, position_ids=positions_UL, use_cache=True,
                logits_to_keep=1)
    cache = out.past_key_values
    if params.n > 1:
        cache.batch_repeat_interleave(params.n)
    logits_AV = out.logits[:, -1].float().repeat_interleave(params.n, 0)  # A: the rows still in the batch
    mask_AL = mask_UL.repeat_interleave(params.n, 0)
    position_A = positions_UL[:, -1].repeat_interleave(params.n, 0) + 1
    rows = logits_AV.shape[0]
    row_A = torch.arange(rows, device=device)  # which of the N rows each row of the batch is
    finished_A = torch.zeros(rows, dtype=torch.bool, device=device)
    tokens_NT = torch.full((rows, params.max_new_tokens), pad_id, dtype=torch.long, device=device)
    logp_NT = torch.zeros((rows, params.max_new_tokens), device=device)
    top_p = TopPLogitsWarper(params.top_p) if 0 < params.top_p < 1 and params.temperature > 0 else None
    steps = 0
    for step in range(params.max_new_tokens):
        scores_AV = logits_AV / params.temperature if params.temperature > 0 else logits_AV
        if top_p is not None:
            scores_AV = top_p(None, scores_AV)
        logp_AV = torch.log_softmax(scores_AV, dim=-1)
        if params.temperature > 0:
            token_A = torch.multinomial(logp_AV.exp(), 1).squeeze(1)
        else:
            token_A = logp_AV.argmax(dim=-1)
        live_A = ~finished_A  # what a finished row draws is never recorded
        tokens_NT[row_A[live_A], step] = token_A[live_A]
        logp_NT[row_A[live_A], step] = logp_AV.gather(-1, token_A.unsqueeze(-1)).squeeze(-1)[live_A]
        finished_A = finished_A | (token_A == eos_id)
        steps = step + 1
        if step == params.max_new_tokens - 1 or all_done(bool(finished_A.all())):
            break
        if len(row_A) // 4 <= int(finished_A.sum()) < len(row_A):  # drop finished rows from the batch and the KV cache
            keep_A = (~finished_A).nonzero().squeeze(1)
            cache.batch_select_indices(keep_A)
            row_A, token_A, mask_AL, position_A = row_A[keep_A], token_A[keep_A], mask_AL[keep_A], position_A[keep_A]
            finished_A = finished_A[keep_A]
        mask_AL = torch.cat([mask_AL, torch.ones_like(mask_AL[:, :1])], dim=1)
        out = model(input_ids=token_A.unsqueeze(1), attention_mask=mask_AL, position_ids=position_A.unsqueeze(1),
                    past_key_values=cache, use_cache=True)
        position_A = position_A + 1
        logits_AV = out.logits[:, -1].float()
    return tokens_NT[:, :steps].cpu(), logp_NT[:, :steps].cpu()


class HFGenerator:
    name = "hf"

    def __init__(self, model, tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id

    def sync_weights(self, model) -> None:
        self.model = model  # same object as the trained policy: nothing to copy

    @torch.no_grad()
    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> list[Completion]:
        if params.seed is not None:
            torch.manual_seed(params.seed)
        was_training = self.model.training
        self.model.eval()
        try:
            if params.stop:  # stop strings: transformers' token-level matcher
                new_ids_NT, token_logp_NT = self._generate_with_stop_strings(prompt_ids, params)
            else:
                new_ids_NT, token_logp_NT = shared_prompt_sample(self.model, prompt_ids, params, self.eos_id,
                                                                 self.pad_id)
        finally:
            self.model.train(was_training)
        return self._completions(new_ids_NT, token_logp_NT, params)

    def _generate_with_stop_strings(self, prompt_ids, params):
        from zero_rl.distributed import is_sharded

        device = next(self.model.parameters()).device
        input_ids, attention_mask = left_pad(prompt_ids, self.pad_id)
        greedy = params.temperature == 0
        # the sampler's own temperature / top-p warpers, then the recorder, so it sees what the sampler draws from
        recorder = SampledTokenLogprobs()
        processors = LogitsProcessorList()
        if not greedy and params.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(params.temperature))
        if not greedy and params.top_p < 1.0:
            processors.append(TopPLogitsWarper(params.top_p))
        processors.append(recorder)
        out = self.model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            do_sample=not greedy,
            temperature=None if greedy else 1.0,
            top_p=None if greedy else 1.0,
            top_k=None,
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=params.n,
            eos_token_id=self.eos_id,
            pad_token_id=self.pad_id,
            logits_processor=processors,
            return_dict_in_generate=True,
            stop_strings=list(params.stop),
            tokenizer=self.tokenizer,
            synced_gpus=is_sharded(self.model),  # fsdp2: every rank steps until all ranks are done
        )
        new_ids_NT = out.sequences[:, input_ids.shape[1]:].cpu()
        return new_ids_NT, recorder.finish(new_ids_NT)

    def _completions(self, new_ids_NT, token_logp_NT, params) -> list[Completion]:
        completions = []
        for row in range(new_ids_NT.shape[0]):
            ids = new_ids_NT[row].tolist()
            finish = "length"
            if self.eos_id in ids:
                ids = ids[: ids.index(self.eos_id) + 1]
                finish = "stop"
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            text, stopped = cut_at_stop(text, params.stop)
            if stopped:
                finish = "stop"
            completions.append(Completion(
                prompt_index=row // params.n,
                token_ids=ids,
                text=text,
                logprobs=token_logp_NT[row, : len(ids)].tolist(),
                finish_reason=finish,
            ))
        return completions
