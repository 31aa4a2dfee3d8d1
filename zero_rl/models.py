"""Load a policy and its tokenizer: a hub name, a local folder, or (None) the embedded base model."""

import torch


def load_model_and_tokenizer(name_or_path: str | None = None, dtype: str = "float32", progress: bool = True,
                             log=print):
    """(model, tokenizer). None builds the embedded tiny base model once and reuses it from the cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path is None:
        from zero_rl.embedded import embedded_base_model

        name_or_path = str(embedded_base_model(progress=progress, log=log))
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype)
    return model, tokenizer
