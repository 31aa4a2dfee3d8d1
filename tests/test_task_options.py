"""Options every task takes: prompt_format=chat (the tokenizer's chat template, token ids equal to
apply_chat_template), system_prompt, and extra_rewards (TRL reward functions, batched, None and errors counted).

The TRL functions below are the examples of TRL's documentation ("Using a custom reward function",
docs/source/grpo_trainer.md), written out here (TRL is not imported), with the helpers the docs leave to the
reader (check_math_solution, test_code_solution) filled in.
"""

import json
import logging
import re

import pytest

from zero_rl.scoring import RewardPool, score_inline
from zero_rl.task_options import CHAT_INSTRUCTION, ChatPrompt, prompt_text, question_of
from zero_rl.tasks import get_task

# ---- TRL's documented reward functions ------------------------------------------------------------------------


def reward_func(completions_ids, **kwargs):  # Example 1: longer completions (token count)
    """Reward function that assigns higher scores to longer completions (in terms of token count)."""
    return [float(len(ids)) for ids in completions_ids]


def format_reward_func(completions, **kwargs):  # Example 2: conversational completions
    """Reward function that checks if the completion has a specific format."""
    pattern = r"^<think>.*?</think><answer>.*?</answer>$"
    completion_contents = [completion[0]["content"] for completion in completions]
    matches = [re.match(pattern, content) for content in completion_contents]
    return [1.0 if match else 0.0 for match in matches]


def boxed_reward_func(completions, ground_truth, **kwargs):  # Example 3 (named reward_func in the docs)
    # Regular expression to capture content inside \boxed{}
    matches = [re.search(r"\\boxed\{(.*?)\}", completion) for completion in completions]
    contents = [match.group(1) if match else "" for match in matches]
    # Reward 1 if the content is the same as the ground truth, 0 otherwise
    return [1.0 if c == gt else 0.0 for c, gt in zip(contents, ground_truth)]


def check_math_solution(prompt, completion):
    expression = re.search(r"What is (.+)\?", prompt).group(1)
    return completion.strip() == str(eval(expression))  # noqa: S307 - the docs' own two prompts


def test_code_solution(prompt, completion):
    return "def " in completion


test_code_solution.__test__ = False  # the docs' name, not a pytest test


def math_reward_func(prompts, completions, task, **kwargs):  # Example 4: multi-task, None = not applicable
    rewards = []
    for prompt, completion, t in zip(prompts, completions, task):
        if t == "math":
            # Calculate math-specific reward
            correct = check_math_solution(prompt, completion)
            reward = 1.0 if correct else -1.0
            rewards.append(reward)
        else:
            # Return None for non-math tasks
            rewards.append(None)
    return rewards


def coding_reward_func(prompts, completions, task, **kwargs):
    rewards = []
    for prompt, completion, t in zip(prompts, completions, task):
        if t == "coding":
            # Calculate coding-specific reward
            works = test_code_solution(prompt, completion)
            reward = 1.0 if works else -1.0
            rewards.append(reward)
        else:
            # Return None for non-coding tasks
            rewards.append(None)
    return rewards


def wrong_length(completions, **kwargs):
    return [1.0]


def not_a_number(completions, **kwargs):
    return ["high" if "x" in c else 0.5 for c in completions]


def digits_in_answer(completions, answer, **kwargs):
    """For the end-to-end run: 1 per digit of the gold answer that appears in the completion."""
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [float(sum(d in text for d in a)) for text, a in zip(texts, answer)]


HERE = __name__  # the import path the config uses for these functions


def docs_task(extra_rewards, prompt_format="r1_zero"):
    """A task whose examples are the TRL docs' dataset rows (prompt text in "question", plus "task")."""
    from zero_rl.task import Task

    rows = [{"id": "0", "question": "What is 2+2?", "task": "math", "answer": "4"},
            {"id": "1", "question": "Write a function that returns the sum of two numbers.", "task": "code",
             "answer": ""},
            {"id": "2", "question": "What is 3*4?", "task": "math", "answer": "12"},
            {"id": "3", "question": "Write a function that returns the product of two numbers.", "task": "code",
             "answer": ""}]
    from zero_rl.task_options import apply_common

    task = Task(name="docs", load=lambda split: rows, prompt=lambda e: e["question"],
                rewards={"constant": (_one, 0.0)}, accuracy="constant")
    return apply_common(task, prompt_format=prompt_format, extra_rewards=extra_rewards), rows


def _one(completion, example):
    return 1.0


# ---- TRL rewards ------------------------------------------------------------------------------------------------


def test_multi_task_rewards_with_none_are_counted_not_applicable():
    task, rows = docs_task({f"{HERE}:math_reward_func": 1.0, f"{HERE}:coding_reward_func": 0.5})
    completions = ["4", "def add(a, b): return a + b", "13", "lambda a, b: a * b"]
    scores = score_inline(task.rewards, completions, rows)
    assert scores.components["math_reward_func"] == [1.0, 0.0, -1.0, 0.0]
    # the docs' dataset says task "code" while coding_reward_func checks for "coding": it never applies
    assert scores.components["coding_reward_func"] == [0.0, 0.0, 0.0, 0.0]
    assert scores.total_B == [1.0, 0.0, -1.0, 0.0]  # None adds nothing, as TRL's nansum
    metrics = scores.metrics()
    assert metrics["reward/math_reward_func/not_applicable"] == 2
    assert metrics["reward/coding_reward_func/not_applicable"] == 4
    assert metrics["reward/math_reward_func/errors"] == 0
    assert "reward/constant/not_applicable" not in metrics  # per-completion rewards have no None


def test_dataset_columns_arrive_as_keyword_lists_in_one_call(monkeypatch):
    calls = []

    def spy(prompts, completions, ground_truth, **kwargs):
        calls.append({"prompts": prompts, "completions": completions, "ground_truth": ground_truth, **kwargs})
        return boxed_reward_func(completions, ground_truth)

    import sys

    monkeypatch.setattr(sys.modules[__name__], "spy", spy, raising=False)
    task, _ = docs_task({f"{HERE}:spy": 2.0})
    rows = [{"id": "a", "question": "Solve 2x + 3 = 7.", "ground_truth": "2", "task": "math"},
            {"id": "b", "question": "Solve 3x - 5 = 10.", "ground_truth": "5", "task": "math"}]
    scores = score_inline(task.rewards, [r" The solution is \boxed{2}.", r" The solution is \boxed{6}."], rows)
    assert scores.components["spy"] == [1.0, 0.0] and scores.total_B == [2.0, 0.0]  # the docs' [1.0, 0.0], x2
    [call] = calls  # one call for the batch
    assert call["prompts"] == ["Solve 2x + 3 = 7.", "Solve 3x - 5 = 10."]
    assert call["ground_truth"] == ["2", "5"] and call["id"] == ["a", "b"] and call["task"] == ["math", "math"]
    assert call["question"] == ["Solve 2x + 3 = 7.", "Solve 3x - 5 = 10."]


@pytest.mark.parametrize("name,completions,components,errors", [
    ("reward_func", ["abc", "de"], [0.0, 0.0], 2),  # needs completions_ids, which zero-rl does not pass
    ("wrong_length", ["a", "b", "c"], [0.0, 0.0, 0.0], 3),
    ("not_a_number", ["x", "y"], [0.0, 0.5], 1),
])
def test_errors_are_counted_logged_zeros(name, completions, components, errors, caplog):
    task, _ = docs_task({f"{HERE}:{name}": 1.0})
    rows = [{"id": str(i), "question": "q", "answer": "1"} for i in range(len(completions))]
    with caplog.at_level(logging.WARNING, logger="zero_rl.scoring"):
        scores = score_inline(task.rewards, completions, rows)
    assert scores.components[name] == components
    assert scores.metrics()[f"reward/{name}/errors"] == errors
    assert name in caplog.text


def test_conversational_completions_with_chat_prompts():
    """prompt_format=chat: TRL's conversational form, completions as [{"role": "assistant", "content": ...}]."""
    task, rows = docs_task({f"{HERE}:format_reward_func": 1.0}, prompt_format="chat")
    scores = score_inline(task.rewards, ["<think>2+2</think><answer>4</answer>", "4", "<think>x</think> <answer>",
                                         "<think>a</think><answer>b</answer>"], rows)
    assert scores.components["format_reward_func"] == [1.0, 0.0, 0.0, 1.0]


def test_batched_rewards_next_to_a_process_pool():
    """With reward_workers > 0, per-completion rewards go to the pool and TRL functions run once, here."""
    task, rows = docs_task({f"{HERE}:math_reward_func": 1.0})
    with RewardPool(workers=1, timeout_s=30, preload=()) as pool:
        scores = pool.score(task.rewards, ["4", "x", "12", "y"], rows)
    assert scores.components == {"constant": [1.0] * 4, "math_reward_func": [1.0, 0.0, 1.0, 0.0]}
    assert scores.not_applicable == {"math_reward_func": 2}


@pytest.mark.parametrize("spec,message", [
    ({"no_such_module_zz:f": 1.0}, "cannot import module 'no_such_module_zz'"),
    ({f"{HERE}:missing": 1.0}, "has no 'missing'"),
    ({"justaname": 1.0}, "not an import path"),
    ({f"{HERE}:HERE": 1.0}, "not a function"),
    ({f"{HERE}:math_reward_func": "high"}, "must be a number"),
])
def test_bad_extra_rewards_say_what_to_fix(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        docs_task(spec)


def test_extra_reward_may_not_shadow_a_task_reward():
    from zero_rl.task import Task
    from zero_rl.task_options import apply_common

    task = Task(name="clash", load=lambda split: [], prompt=lambda e: "", rewards={"_one": (_one, 1.0)},
                accuracy="_one")
    with pytest.raises(ValueError, match="have the names of the task's own rewards"):
        apply_common(task, extra_rewards={f"{HERE}:_one": 1.0})


# ---- chat prompts -----------------------------------------------------------------------------------------------

CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat_tokenizer():
    """The embedded base model's tokenizer, given a ChatML template (and its markers as special tokens)."""
    from transformers import AutoTokenizer

    from zero_rl.embedded import SHIPPED

    tokenizer = AutoTokenizer.from_pretrained(SHIPPED)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML
    return tokenizer


def _template_ids(tokenizer, messages):
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


@pytest.mark.parametrize("system_prompt", [None, "You are a careful calculator."])
def test_chat_prompt_ids_equal_apply_chat_template(chat_tokenizer, system_prompt):
    options = {"train_size": 20, "test_size": 5, "prompt_format": "chat"}
    if system_prompt:
        options["system_prompt"] = system_prompt
    task = get_task("arithmetic", **options)
    for example in task.load("test"):
        text = prompt_text(task, example, chat_tokenizer)
        ids = chat_tokenizer(text, add_special_tokens=False)["input_ids"]
        question = example["question"]
        messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + \
            [{"role": "user", "content": f"{question}\n{CHAT_INSTRUCTION}"}]
        assert ids == _template_ids(chat_tokenizer, messages)
        assert text.endswith("<|im_start|>assistant\n") and "A conversation between" not in text
        assert chat_tokenizer.convert_tokens_to_ids("<|im_start|>") in ids  # the marker is one special token


def test_r1_zero_is_the_default_and_the_question_comes_out_of_it():
    from zero_rl.task import r1_zero_prompt

    task = get_task("arithmetic", train_size=5, test_size=2)
    example = task.load("test")[0]
    assert prompt_text(task, example) == r1_zero_prompt(example["question"])
    assert question_of(r1_zero_prompt("  What is 1 + 2?  ")) == "What is 1 + 2?"
    assert question_of("no template here") == "no template here"


@pytest.mark.parametrize("options,message", [
    ({"prompt_format": "chatml"}, "choose one of: r1_zero, chat"),
    ({"system_prompt": "hi"}, "system_prompt is used by prompt_format=chat only"),
])
def test_bad_prompt_options(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        get_task("arithmetic", train_size=5, test_size=2, **options)


def test_chat_without_a_template_says_what_to_do():
    from transformers import AutoTokenizer

    from zero_rl.embedded import SHIPPED

    task = get_task("arithmetic", train_size=5, test_size=2, prompt_format="chat")
    plain = AutoTokenizer.from_pretrained(SHIPPED)
    plain.chat_template = None
    with pytest.raises(ValueError, match="has no chat template; use task.options.prompt_format=r1_zero"):
        prompt_text(task, task.load("test")[0], plain)


def test_preflight_accepts_common_options_and_lists_them():
    from zero_rl.config import ConfigError, build_config
    from zero_rl.preflight import build_task

    config = build_config({}, ["task.options.prompt_format=chat", "task.options.train_size=10",
                               f"task.options.extra_rewards={{{HERE}:math_reward_func: 0.5}}"])
    task = build_task(config)
    assert isinstance(task.prompt, ChatPrompt) and task.rewards["math_reward_func"][1] == 0.5
    with pytest.raises(ConfigError, match="prompt_format, system_prompt, extra_rewards"):
        build_task(build_config({}, ["task.options.prompt_fromat=chat"]))


def test_training_with_a_chat_template_and_a_trl_reward(tmp_path, chat_tokenizer):
    """The engine hands the tokenizer to the prompt: the trained prompts are the chat template's, and the TRL
    reward is logged per step like the task's own."""
    from zero_rl.config import build_config
    from zero_rl.embedded import build_model
    from zero_rl.trainer import train

    model = build_model(len(chat_tokenizer), hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
                        num_kv_heads=1, eos_token_id=chat_tokenizer.eos_token_id, seed=3)
    config = build_config({}, [
        "run.steps=1", "run.prompts_per_step=2", "generation.group_size=2", "generation.max_new_tokens=6",
        "task.eval_size=2", f"run.output_dir={tmp_path}", "run.progress=false", "optim.warmup_steps=0",
        "task.options.prompt_format=chat", "task.options.train_size=10", "task.options.test_size=2",
        f"task.options.extra_rewards={{{HERE}:digits_in_answer: 0.25}}"])
    train(config, model=model, tokenizer=chat_tokenizer)
    [row] = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"reward/digits_in_answer", "reward/digits_in_answer/errors",
            "reward/digits_in_answer/not_applicable"} <= set(row)
    assert row["reward/digits_in_answer/errors"] == 0
    [samples] = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    for sample in samples["samples"]:
        assert sample["prompt"].startswith("<|im_start|>user\nCompute ") and \
            sample["prompt"].endswith("<|im_start|>assistant\n")
        assert set(sample["components"]) == {"accuracy", "format", "digits_in_answer"}
