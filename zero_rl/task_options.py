"""Options every task takes, applied to the Task its file builds (so no task file has to know about them):

- `prompt_format: r1_zero | chat`: r1_zero (default) is the task's own prompt (the R1-Zero template, plain
  text); chat renders the task's question with the model's tokenizer chat template, the R1-style instruction in
  the user turn, the generation prompt added (for instruct and chat models).
- `system_prompt`: with chat, a system message put first (default none: the template's own default, if any).
- `extra_rewards: {"mypkg.rewards:f": 0.5}`: reward functions written for TRL's GRPOTrainer
  (`f(completions, **kwargs) -> list[float | None]`), added to the task's rewards with their weights
  (zero_rl/rewards/trl_adapter.py).
"""

import dataclasses

from zero_rl.task import R1_ZERO_TEMPLATE, Task

COMMON_OPTIONS = {"prompt_format": "r1_zero", "system_prompt": None, "extra_rewards": None}
"""Option -> default; `zero-rl tasks -v` lists them after each task's own options."""

PROMPT_FORMATS = ("r1_zero", "chat")

CHAT_INSTRUCTION = ("Think about the reasoning process first, then give the answer. Enclose the reasoning in "
                    "<think> </think> and the answer in <answer> </answer> tags, i.e., <think> reasoning process "
                    "here </think> <answer> answer here </answer>.")
"""The R1-Zero template's instruction for the user turn of a chat (DeepSeek-R1, Table 1, reworded for a user)."""

_R1_HEAD, _R1_TAIL = R1_ZERO_TEMPLATE.split("{question}")


def split_common(options: dict) -> tuple[dict, dict]:
    """(the task's own options, the common ones with their defaults filled in)."""
    own = {k: v for k, v in options.items() if k not in COMMON_OPTIONS}
    common = {k: options.get(k, default) for k, default in COMMON_OPTIONS.items()}
    return own, common


def question_of(prompt_text: str) -> str:
    """The question inside an R1-Zero prompt; a prompt in another form is the question as a whole."""
    if prompt_text.startswith(_R1_HEAD) and prompt_text.endswith(_R1_TAIL):
        return prompt_text[len(_R1_HEAD):len(prompt_text) - len(_R1_TAIL)]
    return prompt_text


class ChatPrompt:
    """prompt(example, tokenizer) -> the chat-template text of [system?, user: question + instruction] with the
    generation prompt. Its tokens (add_special_tokens=False) are apply_chat_template(..., tokenize=True)'s: that
    is how transformers tokenizes a rendered chat."""

    uses_tokenizer = True

    def __init__(self, base, system_prompt: str | None = None, task_name: str = "task"):
        self.base = base  # the task's own (R1-Zero) prompt function: its question goes into the user turn
        self.system_prompt = system_prompt
        self.task_name = task_name

    def messages(self, example: dict) -> list:
        user = f"{question_of(self.base(example))}\n{CHAT_INSTRUCTION}"
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return system + [{"role": "user", "content": user}]

    def __call__(self, example: dict, tokenizer=None) -> str:
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
            where = "no tokenizer was given" if tokenizer is None else f"the tokenizer ({name}) has no chat template"
            raise ValueError(f"task {self.task_name!r}: prompt_format=chat needs the model's chat template, but "
                             f"{where}; use task.options.prompt_format=r1_zero for a base model, or a chat/instruct "
                             f"model")
        return tokenizer.apply_chat_template(self.messages(example), tokenize=False, add_generation_prompt=True)


def apply_common(task: Task, prompt_format: str = "r1_zero", system_prompt: str | None = None,
                 extra_rewards: dict | None = None) -> Task:
    """The task with the common options applied (itself when they are all defaults)."""
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"task {task.name!r}: prompt_format={prompt_format!r}; choose one of: "
                         f"{', '.join(PROMPT_FORMATS)}")
    if system_prompt is not None and prompt_format != "chat":
        raise ValueError(f"task {task.name!r}: system_prompt is used by prompt_format=chat only (got "
                         f"prompt_format={prompt_format!r})")
    changes, options = {}, dict(task.options)
    if prompt_format == "chat":
        changes["prompt"] = ChatPrompt(task.prompt, system_prompt, task.name)
        options.update(prompt_format=prompt_format, system_prompt=system_prompt)
    if extra_rewards:
        from zero_rl.rewards.trl_adapter import trl_rewards

        added = trl_rewards(extra_rewards, changes.get("prompt", task.prompt), conversational=prompt_format == "chat")
        clash = sorted(set(added) & set(task.rewards))
        if clash:
            raise ValueError(f"task {task.name!r}: extra_rewards {clash} have the names of the task's own rewards "
                             f"({', '.join(task.rewards)}); rename the functions")
        changes["rewards"] = dict(task.rewards, **added)
        options["extra_rewards"] = dict(extra_rewards)
    if not changes:
        return task
    return dataclasses.replace(task, options=options, **changes)


def prompt_text(task: Task, example: dict, tokenizer=None) -> str:
    """The engine's one way to a prompt: the task's prompt function, given the tokenizer when it takes one."""
    if getattr(task.prompt, "uses_tokenizer", False):
        return task.prompt(example, tokenizer)
    return task.prompt(example)
