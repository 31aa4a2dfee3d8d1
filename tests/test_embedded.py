import random

from zero_rl.embedded import BaseModelRecipe, build_tokenizer, corpus_document, embedded_base_model


def test_tokenizer_keeps_tags_and_splits_digits():
    rng = random.Random(0)
    recipe = BaseModelRecipe()
    tokenizer = build_tokenizer([corpus_document(rng, recipe) for _ in range(500)], vocab_size=400)
    text = " <think> 12 + 7 * 3 = 12 + 21 = 33 </think> <answer> 33 </answer>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == text  # vLLM decodes with skip_special_tokens
    pieces = [tokenizer.decode([i]) for i in ids]
    assert "<think>" in pieces and "</answer>" in pieces
    assert "12" not in pieces and "33" not in pieces  # every digit is its own token


def test_corpus_uses_train_expressions_only_and_mixes_styles():
    from tasks.arithmetic import split_of

    rng = random.Random(1)
    recipe = BaseModelRecipe()
    docs = [corpus_document(rng, recipe) for _ in range(2000)]
    tagged = sum("</answer>" in d and "Assistant: <think>" in d for d in docs) / len(docs)
    prose = sum("Assistant: The answer is" in d for d in docs) / len(docs)
    assert 0.05 < tagged < 0.25 and prose > tagged  # tags are a minority style
    for doc in docs:
        if "User: Compute " in doc:
            expression = doc.split("User: Compute ", 1)[1].split(". Assistant:", 1)[0]
            assert split_of(expression) == "train"


def test_build_once_then_reuse(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("ZERO_RL_CACHE", str(tmp_path))
    recipe = BaseModelRecipe(steps=3, batch_size=2, seq_len=64, hidden_size=32, intermediate_size=64)
    messages = []
    path = embedded_base_model(recipe, progress=False, log=messages.append)
    assert any("pretrained on" in m for m in messages)
    assert (path / "model.safetensors").exists() and not path.with_name(path.name + ".partial").exists()
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config.vocab_size == len(tokenizer) and tokenizer.eos_token == "<|endoftext|>"
    messages.clear()
    assert embedded_base_model(recipe, progress=False, log=messages.append) == path
    assert messages == [f"embedded base model: using cached {path}"]
