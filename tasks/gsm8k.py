"""GSM8K: grade-school word problems with integer answers (gold: the number after the last `####`)."""

import functools
import hashlib
import json
from decimal import Decimal
from pathlib import Path

from zero_rl.rewards.format import FORMATS, answer_body
from zero_rl.rewards.language import language_consistency
from zero_rl.rewards.numeric import numeric_accuracy, numeric_answer, parse_number
from zero_rl.data import DataError, load_rows, require, shared_data_dir
from zero_rl.task import Task, r1_zero_prompt

SPLITS = ("train", "test")


def gold_from_solution(solution: str, where: str, index: int) -> str:
    """"... #### 1,000" -> "1000"; a DataError naming the row when the `####` line is missing or not a number."""
    if "####" not in solution:
        raise DataError(f"{where}: row {index} field 'answer' has no '####' answer line")
    gold = solution.rsplit("####", 1)[1].strip().replace(",", "")
    if parse_number(gold) is None or not gold.lstrip("-").replace(".", "", 1).isdigit():
        raise DataError(f"{where}: row {index} field 'answer': {gold!r} after '####' is not a number")
    return gold


def to_examples(rows: list, split: str, where: str, indices=None) -> list:
    examples = []
    for position, row in enumerate(rows):
        index = indices[position] if indices is not None else position
        question = require(row, "question", where, index)
        solution = require(row, "answer", where, index)
        examples.append({"id": f"gsm8k/{split}/{index}", "question": question,
                         "answer": gold_from_solution(solution, where, index), "solution": solution})
    return examples


def load_examples(source: str, split: str, config_name: str | None = None) -> list:
    where = f"task 'gsm8k' ({source}, split {split!r})"
    return to_examples(load_rows(source, split, config_name), split, where)


def held_out_by_share(question: str, share: float, seed: int = 0) -> bool:
    """The split rule for one file: a question is held out when its seeded hash falls below `share` (stable
    across runs and row order; the same question text always lands on the same side)."""
    digest = hashlib.sha256(f"{seed}/{' '.join(question.split())}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < share


def split_one_file(source: str, split: str, share: float) -> list:
    """One split of a single file divided by `held_out_by_share`."""
    where = f"task 'gsm8k' ({source}, eval_share={share}, split {split!r})"
    rows = load_rows(source, split)
    chosen = [(i, r) for i, r in enumerate(rows)
              if held_out_by_share(str(require(r, "question", where, i)), share) == (split == "test")]
    if not chosen:
        raise DataError(f"{where}: no rows fall in this split; adjust eval_share")
    return to_examples([r for _, r in chosen], split, where, [i for i, _ in chosen])


def _is_single_file(source: str) -> bool:
    """A local file holding one list of rows (not a JSON object keyed by split)."""
    path = Path(source).expanduser()
    if not path.is_file():
        return False
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return True
        return not (isinstance(data, dict) and all(split in data for split in SPLITS))
    return True


def extract_answer(completion: str) -> str | None:
    """The number the last <answer> block answers with (as numeric_accuracy reads it), normalised ("1,000.0" ->
    "1000", "\\frac{1}{4}" -> "0.25", "\\frac{1}{3}" -> "1/3") so equal answers vote together; None when the answer
    is not a number (`3x` is no vote for 3)."""
    body = answer_body(completion)
    number = numeric_answer(body) if body is not None else None
    if number is None:
        return None
    if number.denominator == 1:
        return str(number.numerator)
    denominator, twos, fives = number.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    if denominator != 1:
        return f"{number.numerator}/{number.denominator}"
    places = max(twos, fives)
    return format(Decimal(number.numerator) / Decimal(number.denominator), f".{places}f")


def prompt(example: dict) -> str:
    return r1_zero_prompt(example["question"])


def build(data: str | None = None, eval_data: str | None = None, eval_share: float = 0.0, format: str = "strict",
          accuracy_weight: float = 1.0, format_weight: float = 0.1, language: str = "en",
          language_weight: float = 0.0) -> Task:
    """`data`: a folder with train/test files, a hub name (`openai/gsm8k`, config "main") or one file of
    training rows; default: the `gsm8k` folder of the data folder (../shared/data beside the checkout, or
    $ZERO_RL_DATA). One file alone is a held-out set: to train on it, give `eval_data` (the held-out rows: a
    file, folder or hub name) or `eval_share` (0-1: hold out that share of its rows by a hash of the question)."""
    if format not in FORMATS:
        raise ValueError(f"task 'gsm8k': unknown format {format!r}; valid: {', '.join(FORMATS)}")
    if not 0 <= eval_share < 1:
        raise ValueError(f"task 'gsm8k': eval_share must be in [0, 1), got {eval_share}")
    default = str(shared_data_dir() / "gsm8k")
    source = data or default
    single = _is_single_file(source)
    if eval_share and not single:
        raise DataError(f"task 'gsm8k': eval_share applies to a single data file; {source!r} already has "
                        f"train and test splits")
    config_name = "main" if data == "openai/gsm8k" else None

    def load(split: str) -> list:
        if split not in SPLITS:
            raise ValueError(f"task 'gsm8k' has splits {', '.join(SPLITS)}, not {split!r}")
        if data is None and not Path(default).exists():
            raise DataError(f"task 'gsm8k': no data given and the default folder {default} does not exist (the "
                            f"data folder is ../shared/data beside the checkout, or $ZERO_RL_DATA). Pass "
                            f"task.options.data=openai/gsm8k to load it from the hub, or a local folder with "
                            f"train.jsonl and test.jsonl")
        if split == "test" and eval_data:
            return load_examples(eval_data, split, "main" if eval_data == "openai/gsm8k" else None)
        if single and eval_share:
            return split_one_file(source, split, eval_share)
        if single and split == "train" and not eval_data:
            # one file is a held-out set (as `zero-rl eval` uses it); training on it too would measure held-out
            # numbers on training data
            raise DataError(f"task 'gsm8k': data={source!r} is one file with no splits, so it would be both the "
                            f"training and the held-out split. Give the held-out rows with "
                            f"task.options.eval_data=FILE, or hold out a share of this file with "
                            f"task.options.eval_share=0.1")
        return load_examples(source, split, config_name)

    rewards = {"accuracy": (numeric_accuracy, accuracy_weight), "format": (FORMATS[format], format_weight)}
    if language_weight:
        rewards["language"] = (functools.partial(language_consistency, language=language), language_weight)
    return Task(name="gsm8k", load=load, prompt=prompt, rewards=rewards, accuracy="accuracy", format="format",
                extract_answer=extract_answer,
                options=dict(data=source, eval_data=eval_data, eval_share=eval_share, format=format,
                             accuracy_weight=accuracy_weight, format_weight=format_weight, language=language,
                             language_weight=language_weight))
