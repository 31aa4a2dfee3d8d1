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
        device = next(self.model.parameters()).device
        input_ids, attention_mask = left_pad(prompt_ids, self.pad_id)
        greedy = params.temperature == 0
        if params.seed is not None:
            torch.manual_seed(params.seed)
        was_training = self.model.training
        self.model.eval()
        # the sampler's own temperature / top-p warpers, then the recorder, so it sees what the sampler draws from
        recorder = SampledTokenLogprobs()
        processors = LogitsProcessorList()
        if not greedy and params.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(params.temperature))
        if not greedy and params.top_p < 1.0:
            processors.append(TopPLogitsWarper(params.top_p))
        processors.append(recorder)
        try:
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
                **({"stop_strings": list(params.stop), "tokenizer": self.tokenizer} if params.stop else {}),
            )
        finally:
            self.model.train(was_training)
        new_ids_NT = out.sequences[:, input_ids.shape[1]:].cpu()
        token_logp_NT = recorder.finish(new_ids_NT)
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
