import os

# Before torch is imported anywhere: one OpenMP thread (two threads on a loaded 2-core machine are 10-80x slower),
# no hub access, and a private cache so tests never reuse or pollute the user's embedded model.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A saved, untrained tiny model + tokenizer (loadable with from_pretrained and by vLLM)."""
    from zero_rl.embedded import build_tiny_random

    directory = tmp_path_factory.mktemp("tiny")
    build_tiny_random(directory)
    return directory


@pytest.fixture
def no_model(monkeypatch):
    """Loading (or building) a model fails the test: for errors that must be reported before any model loads."""
    import zero_rl.models

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the user error was reported")

    monkeypatch.setattr(zero_rl.models, "load_model_and_tokenizer", refuse)
    monkeypatch.setattr(zero_rl.models, "embedded_base_model_once", refuse, raising=False)
