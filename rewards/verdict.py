"""Verdicts of split tests, computed here from the values the sandbox child sent (rewards/test_split.py says how
a test is split, rewards/sandbox_harness.py `encode` how a value is sent).

The child's values are untrusted data: `decode` accepts only the tagged plain form and refuses what would be
costly to build here (sets and dict keys whose items share one hash, since ints and tuples hash without a random
seed; Decimals with huge exponents); the verdict expression is the test's own, evaluated with the safe builtins
and math of rewards/test_split.py. Any failure fails the test, with a message saying why.
"""

import decimal
import fractions
from collections import Counter
from functools import lru_cache

from zero_rl.rewards.test_split import compiled_verdict, parent_namespace

_SCALARS = (type(None), bool, int, float, str)


def decode(item, depth: int = 0):
    """The plain value for one encoded item (rewards/sandbox_harness.py `encode`); ValueError if malformed."""
    if isinstance(item, _SCALARS):
        return item
    if depth > 100 or not isinstance(item, list) or not item or not isinstance(item[0], str):
        raise ValueError("malformed value from the sandbox")
    tag, rest = item[0], item[1:]
    depth += 1
    if tag == "l":
        return [decode(x, depth) for x in rest]
    if tag == "t":
        return tuple(decode(x, depth) for x in rest)
    if tag == "s":
        return set(_distinct_hashes([decode(x, depth) for x in rest]))
    if tag == "f":
        return frozenset(_distinct_hashes([decode(x, depth) for x in rest]))
    if tag == "g":
        return iter([decode(x, depth) for x in rest])
    if tag == "d" and len(rest) % 2 == 0:
        keys = _distinct_hashes([decode(rest[i], depth) for i in range(0, len(rest), 2)])
        return dict(zip(keys, [decode(rest[i], depth) for i in range(1, len(rest), 2)]))
    if tag in ("b", "y") and len(rest) == 1 and isinstance(rest[0], str):
        return bytes.fromhex(rest[0]) if tag == "b" else bytearray.fromhex(rest[0])
    if tag == "c" and len(rest) == 2 and all(type(x) in (int, float) for x in rest):
        return complex(rest[0], rest[1])
    if tag == "q" and len(rest) == 2 and all(type(x) is int for x in rest) and rest[1] != 0:
        return fractions.Fraction(rest[0], rest[1])
    if tag == "m" and len(rest) == 1 and isinstance(rest[0], str) and len(rest[0]) <= 1000:
        value = decimal.Decimal(rest[0])
        if value.is_finite() and abs(value.adjusted()) > 10000:  # int() of 1e999999999 would take forever
            raise ValueError("Decimal exponent out of range")
        return value
    if tag == "i" and len(rest) == 1 and isinstance(rest[0], str) and len(rest[0]) <= 1 << 16:
        return int(rest[0], 16)
    raise ValueError(f"malformed value from the sandbox (tag {tag!r})")


def _distinct_hashes(items: list) -> list:
    """Items of a set or dict keys, refused when many share one hash: ints and tuples hash without a random seed,
    so a program could send values that all collide and make building the set quadratic here."""
    if len(items) > 64 and max(Counter(map(hash, items)).values()) > 64:
        raise ValueError("too many values with one hash")
    return items


def _short(value) -> str:
    try:
        text = "<iterator>" if type(value).__name__ == "list_iterator" else repr(value)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:200] + "..."


@lru_cache(maxsize=4096)
def _namespace(split, own: frozenset) -> dict:
    return parent_namespace(split, own)


def judge_split(split, own: frozenset, values) -> str:
    """"" if every assert of a split test holds on the values the child sent, else why not."""
    if not isinstance(values, list) or len(values) != sum(len(u.shipped) for u in split.units):
        return "the sandbox sent the wrong number of values"
    try:
        base = _namespace(split, own)
    except Exception as error:  # a test constant the parent cannot compute: a task bug, reported as such
        return f"test constants: {type(error).__name__}: {error}"
    position = 0
    for unit in split.units:
        scope = dict(base)
        for k in range(len(unit.shipped)):
            item = values[position + k]
            if isinstance(item, list) and len(item) == 2 and item[0] == "!":
                return f"{unit.source}: {item[1]}"
            try:
                scope[f"__value_{k}"] = decode(item)
            except Exception as error:  # malformed, unhashable in a set, a bad Decimal ...: the test fails
                return f"{unit.source}: {type(error).__name__}: {error}"
        position += len(unit.shipped)
        try:
            holds = bool(eval(compiled_verdict(unit.verdict), scope))
        except Exception as error:
            holds, why = False, f"{type(error).__name__}: {error}"
        else:
            got = ", ".join(_short(scope[f"__value_{k}"]) for k in range(len(unit.shipped)))
            why = f"got {got}" if got else "false"
        if not holds:
            return f"{unit.source}: {why}"
    return ""
