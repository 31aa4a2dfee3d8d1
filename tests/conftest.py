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
