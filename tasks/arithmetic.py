"""Arithmetic: seeded, procedurally generated expressions over + - * with optional parentheses.

Train and held-out problems are disjoint by construction: every expression is assigned to a split by a
stable hash of its text, so no held-out expression can be drawn for training, at any seed.
"""

import functools
import hashlib
import random

from zero_rl.rewards.format import answer_body, format_reward
from zero_rl.rewards.numeric import integer_exact
from zero_rl.task import Task, r1_zero_prompt

HELD_OUT_BUCKETS = 10  # 1 in 10 expressions belongs to the held-out split


@functools.lru_cache(maxsize=1 << 16)
def split_of(expression: str) -> str:
    bucket = int(hashlib.sha1(expression.encode()).hexdigest()[:8], 16) % HELD_OUT_BUCKETS
    return "test" if bucket == 0 else "train"


def random_expression(rng: random.Random, min_operands=2, max_operands=3, max_value=12,
                      operators="+-*", paren_prob=0.3, max_multiplications=1) -> list:
    """A flat token list like [12, '+', 7, '*', 3] or ['(', 12, '+', 7, ')', '*', 3] (at most one pair)."""
    count = rng.randint(min_operands, max_operands)
    numbers = [rng.randint(1, max_value) for _ in range(count)]
    ops = [rng.choice(operators) for _ in range(count - 1)]
    additive = [op for op in operators if op != "*"]
    while ops.count("*") > max_multiplications and additive:  # chained products grow past what steps can show
        ops[len(ops) - 1 - ops[::-1].index("*")] = rng.choice(additive)
    tokens = [numbers[0]]
    for op, number in zip(ops, numbers[1:]):
        tokens += [op, number]
    if count >= 3 and rng.random() < paren_prob:
        first = rng.randrange(count - 1)  # parenthesise operands first..first+1
        start, end = 2 * first, 2 * first + 3
        tokens = tokens[:start] + ["("] + tokens[start:end] + [")"] + tokens[end:]
    return tokens


def render(tokens: list) -> str:
    text = " ".join(str(t) for t in tokens)
    return text.replace("( ", "(").replace(" )", ")")


def _apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def _reduce_once(tokens: list) -> list:
    """One evaluation step by precedence: innermost parentheses first, then the leftmost *, then leftmost + or -."""
    if "(" in tokens:
        start = tokens.index("(")
        end = tokens.index(")", start)
        inner = _reduce_once(tokens[start + 1: end])
        if len(inner) == 1:  # the bracket is done: drop the parentheses in the same step
            return tokens[:start] + inner + tokens[end + 1:]
        return tokens[:start + 1] + inner + tokens[end:]
    index = next((i for i, t in enumerate(tokens) if t == "*"), None)
    if index is None:
        index = next(i for i, t in enumerate(tokens) if t in ("+", "-"))
    value = _apply(tokens[index - 1], tokens[index], tokens[index + 1])
    return tokens[: index - 1] + [value] + tokens[index + 2:]


def steps(tokens: list) -> list:
    """Every intermediate expression down to the single value: [[12,'+',7,'*',3], [12,'+',21], [33]]."""
    chain = [tokens]
    while len(chain[-1]) > 1:
        chain.append(_reduce_once(chain[-1]))
    return chain


def evaluate(tokens: list) -> int:
    return steps(tokens)[-1][0]


def make_problem(tokens: list) -> dict:
    expression = render(tokens)
    return {"id": expression, "question": f"Compute {expression}", "expression": expression,
            "tokens": tokens, "answer": str(evaluate(tokens))}


def sample_problems(split: str, count: int, seed: int, **knobs) -> list:
    """`count` distinct problems of `split`, reproducible for a seed."""
    rng = random.Random(f"arithmetic/{split}/{seed}")
    seen, problems = set(), []
    attempts = 0
    while len(problems) < count:
        attempts += 1
        if attempts > 200 * count + 1000:
            raise ValueError(f"arithmetic: could only find {len(problems)} distinct {split} problems with {knobs}; "
                             "widen max_value/max_operands or ask for fewer")
        tokens = random_expression(rng, **knobs)
        expression = render(tokens)
        if expression in seen or split_of(expression) != split:
            continue
        seen.add(expression)
        problems.append(make_problem(tokens))
    return problems


def prompt(example: dict) -> str:
    return r1_zero_prompt(example["question"])


def extract_answer(completion: str) -> str | None:
    body = answer_body(completion)
    return body.strip() if body is not None else None


def build(min_operands: int = 2, max_operands: int = 3, max_value: int = 12, operators: str = "+-*",
          paren_prob: float = 0.3, max_multiplications: int = 1, train_size: int = 20000, test_size: int = 500, seed: int = 0,
          accuracy_weight: float = 1.0, format_weight: float = 0.1, step_weight: float = 0.0) -> Task:
    """`step_weight` > 0 adds the process reward `steps` (zero_rl/rewards/arithmetic_steps.py: each step of the
    worked chain checked exactly), which reaches the advantages per token (zero_rl/process_rewards.py)."""
    if not 1 <= min_operands <= max_operands:
        raise ValueError(f"need 1 <= min_operands <= max_operands, got {min_operands}, {max_operands}")
    if max_value < 1 or not operators or set(operators) - set("+-*"):
        raise ValueError(f"max_value must be >= 1 and operators a non-empty subset of '+-*', got {max_value}, {operators!r}")
    if step_weight < 0:
        raise ValueError(f"arithmetic: step_weight must be >= 0, got {step_weight}")
    knobs = dict(min_operands=min_operands, max_operands=max_operands, max_value=max_value,
                 operators=operators, paren_prob=paren_prob, max_multiplications=max_multiplications)
    sizes = {"train": train_size, "test": test_size}

    def load(split: str) -> list:
        if split not in sizes:
            raise ValueError(f"task 'arithmetic' has splits train and test, not {split!r}")
        return sample_problems(split, sizes[split], seed, **knobs)

    rewards = {"accuracy": (integer_exact, accuracy_weight), "format": (format_reward, format_weight)}
    if step_weight > 0:
        from zero_rl.rewards.arithmetic_steps import step_scores

        rewards["steps"] = (step_scores, step_weight)
    return Task(
        name="arithmetic",
        load=load,
        prompt=prompt,
        rewards=rewards,
        accuracy="accuracy",
        format="format",
        extract_answer=extract_answer,
        options=dict(knobs, train_size=train_size, test_size=test_size, seed=seed,
                     **({"step_weight": step_weight} if step_weight > 0 else {})),
    )
