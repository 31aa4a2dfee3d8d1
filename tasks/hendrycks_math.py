"""MATH (Hendrycks): competition problems with LaTeX answers, checked by math-verify; MATH-500 held out.

Variants: "prm800k" trains on the 12,000 problems outside MATH-500 (PRM800K split), "full" on the original
7,500-problem train split; both evaluate on MATH-500. Gold: the `answer` field, else the last `\\boxed{}` of
`solution`. Filters: `levels` (e.g. [3, 4, 5] as in Dr. GRPO) and `subjects`.
"""

import functools
import logging

from zero_rl.rewards.format import FORMATS
from zero_rl.rewards.language import language_consistency
from zero_rl.rewards.math_answer import FALLBACKS, extract_math_answer, last_boxed, math_accuracy
from zero_rl.data import DataError, load_rows, require, shared_data_dir
from zero_rl.task import Task, r1_zero_prompt

log = logging.getLogger("zero_rl.tasks.math")
SPLITS = ("train", "test")
VARIANTS = {"prm800k": "math_prm800k", "full": "math_full"}  # train folder under shared data; test: MATH-500
SUBJECTS = ("Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra", "Number Theory",
            "Prealgebra", "Precalculus")


def _level(value, where: str, index: int) -> int | None:
    """MATH stores "Level 3", PRM800K stores 3; "Level ?" / null (2 train problems) -> None."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).replace("Level", "").strip()
    if text == "?":
        return None
    if not text.isdigit():
        raise DataError(f"{where}: row {index} field 'level' is {value!r}, expected 1-5 or 'Level N'")
    return int(text)


def load_examples(source: str, split: str, levels=None, subjects=None, strict: bool = False) -> list:
    where = f"task 'math' ({source}, split {split!r})"
    examples = []
    for index, row in enumerate(load_rows(source, split)):
        problem = require(row, "problem", where, index)
        answer = row.get("answer")
        if not (isinstance(answer, str) and answer.strip()):
            solution = require(row, "solution", where, index)
            answer = last_boxed(solution)
            if not (answer and answer.strip()):
                message = f"{where}: row {index} has no 'answer' and field 'solution' has no non-empty \\boxed{{}}"
                if strict:
                    raise DataError(message)
                log.warning("%s; row skipped", message)  # MATH itself has two (an empty \\boxed{})
                continue
        level = _level(row.get("level"), where, index)
        subject = row.get("subject") or row.get("type")
        if levels is not None and level not in levels:
            continue
        if subjects is not None and (subject or "").lower() not in subjects:
            continue
        examples.append({"id": row.get("unique_id") or f"math/{split}/{index}", "problem": problem,
                         "question": problem, "answer": answer.strip(), "level": level, "subject": subject})
    if not examples:
        raise DataError(f"{where}: no problems left after the filters levels={levels} subjects={subjects}")
    return examples


def prompt(example: dict) -> str:
    return r1_zero_prompt(example["problem"])


def build(variant: str = "prm800k", data: str | None = None, eval_data: str | None = None,
          levels: list | None = None, subjects: list | None = None, fallbacks: tuple = (),
          format: str = "strict", accuracy_weight: float = 1.0, format_weight: float = 0.1,
          language: str = "en", language_weight: float = 0.0, strict_data: bool = False) -> Task:
    """`data` / `eval_data`: local folder/file or hub name (e.g. `HuggingFaceH4/MATH-500` for the test split)
    replacing the shared-data default for train / test. A row without any gold answer is skipped with a
    warning naming it, or raises a DataError with `strict_data`."""
    if variant not in VARIANTS:
        raise ValueError(f"task 'math': unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
    if format not in FORMATS:
        raise ValueError(f"task 'math': unknown format {format!r}; valid: {', '.join(FORMATS)}")
    if set(fallbacks) - set(FALLBACKS):
        raise ValueError(f"task 'math': unknown fallbacks {list(fallbacks)}; valid: {', '.join(FALLBACKS)}")
    if levels is not None:
        levels = [int(level) for level in levels]
        if not set(levels) <= {1, 2, 3, 4, 5}:
            raise ValueError(f"task 'math': levels must be within 1-5, got {levels}")
    if subjects is not None:
        known = {s.lower() for s in SUBJECTS}
        subjects = [s.lower() for s in subjects]
        if set(subjects) - known:
            raise ValueError(f"task 'math': unknown subjects {sorted(set(subjects) - known)}; "
                             f"valid: {', '.join(SUBJECTS)}")
    sources = {"train": data or str(shared_data_dir() / VARIANTS[variant]),
               "test": eval_data or str(shared_data_dir() / "math_prm800k")}

    def load(split: str) -> list:
        if split not in SPLITS:
            raise ValueError(f"task 'math' has splits {', '.join(SPLITS)}, not {split!r}")
        return load_examples(sources[split], split, levels, subjects, strict_data)

    accuracy = functools.partial(math_accuracy, fallbacks=tuple(fallbacks)) if fallbacks else math_accuracy
    rewards = {"accuracy": (accuracy, accuracy_weight), "format": (FORMATS[format], format_weight)}
    if language_weight:
        rewards["language"] = (functools.partial(language_consistency, language=language), language_weight)
    return Task(name="math", load=load, prompt=prompt, rewards=rewards, accuracy="accuracy", format="format",
                extract_answer=extract_math_answer,
                options=dict(variant=variant, data=sources["train"], eval_data=sources["test"], levels=levels,
                             subjects=subjects, fallbacks=list(fallbacks), format=format,
                             accuracy_weight=accuracy_weight, format_weight=format_weight, language=language,
                             language_weight=language_weight))
