import random

import pytest

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
    from zero_rl.tasks.arithmetic import split_of

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


def _shipped_cases():
    from zero_rl.aha import AhaRecipe
    from zero_rl.embedded import SHIPPED, SHIPPED_AHA

    return [(SHIPPED, BaseModelRecipe()), (SHIPPED_AHA, AhaRecipe())]


@pytest.mark.parametrize("case", [0, 1], ids=["default", "aha"])
def test_shipped_weights_are_their_recipes_and_intact(case):
    """The package ships the default recipe's model and the aha variant's; a recipe change without a rebuild,
    or damaged weights, fail here."""
    import json
    from dataclasses import asdict, replace

    from transformers import AutoModelForCausalLM

    from zero_rl.embedded import shipped_base_model, state_digest

    folder, recipe = _shipped_cases()[case]
    assert json.loads((folder / "recipe.json").read_text()) == asdict(recipe)
    assert shipped_base_model(recipe) == folder
    assert shipped_base_model(replace(recipe, steps=3)) is None
    build = json.loads((folder / "build.json").read_text())
    assert build["precision"] in ("float32", "bfloat16")
    assert state_digest(AutoModelForCausalLM.from_pretrained(folder)) == build["weights_sha256"]


@pytest.mark.parametrize("case", [0, 1], ids=["default", "aha"])
def test_recipe_reproduces_the_shipped_fingerprint(case):
    """What the recipe determines (tokenizer, initial weights, the first float32 pretraining losses) is
    recomputed here and must equal what was recorded when the shipped weights were built: the corpus, the
    tokenizer, the initialisation and the optimiser are the code that produced them."""
    import json

    from transformers import AutoTokenizer

    from zero_rl.embedded import fingerprint, tokenizer_digest

    folder, recipe = _shipped_cases()[case]
    recorded = json.loads((folder / "build.json").read_text())["fingerprint"]
    now = fingerprint(recipe, steps=len(recorded["float32_losses"]))
    assert now["tokenizer_sha256"] == recorded["tokenizer_sha256"]
    assert tokenizer_digest(AutoTokenizer.from_pretrained(folder)) == recorded["tokenizer_sha256"]
    assert now["initial_weights_sha256"] == recorded["initial_weights_sha256"]
    for got, want in zip(now["float32_losses"], recorded["float32_losses"]):
        assert abs(got - want) <= 1e-4 * abs(want), (now["float32_losses"], recorded["float32_losses"])


def test_default_recipe_uses_the_shipped_model_without_building(tmp_path, monkeypatch):
    from zero_rl.embedded import SHIPPED

    monkeypatch.setenv("ZERO_RL_CACHE", str(tmp_path))
    messages = []
    assert embedded_base_model(progress=False, log=messages.append) == SHIPPED
    assert "shipped weights" in messages[0] and not any(tmp_path.iterdir())


def test_the_aha_variant_uses_its_shipped_model_without_building(tmp_path, monkeypatch):
    from zero_rl.aha import AhaRecipe
    from zero_rl.embedded import SHIPPED_AHA

    monkeypatch.setenv("ZERO_RL_CACHE", str(tmp_path))
    messages = []
    assert embedded_base_model(AhaRecipe(), progress=False, log=messages.append) == SHIPPED_AHA
    assert "shipped weights" in messages[0] and not any(tmp_path.iterdir())
