"""The reward engine: inline and process-pool scoring, timeouts, errors and crashed workers all counted."""

import functools
import os
import time
from collections import deque

import pytest

from zero_rl.rewards.format import format_reward
from zero_rl.rewards.math_answer import math_accuracy
from zero_rl.scoring import RewardPool, score, score_inline


def misbehaving(completion: str, example: dict) -> float:
    """A reward that does whatever the completion says."""
    if completion == "hang":
        time.sleep(600)
    if completion == "crash":
        os._exit(3)
    if completion == "raise":
        raise ValueError("broken reward")
    if completion == "exit":
        raise SystemExit(1)
    if completion == "nan":
        return float("nan")
    if completion == "timeout-error":
        raise TimeoutError("the reward's own limit")
    return float(len(completion))


def paced(completion: str, example: dict) -> float:
    """example["i"], after 10 ms for a completion marked slow."""
    if completion == "slow":
        time.sleep(0.01)
    return float(example["i"])


def paced_pid(completion: str, example: dict) -> float:
    """The worker's process id, after 10 ms for a completion marked slow."""
    if completion == "slow":
        time.sleep(0.01)
    return float(os.getpid())


def collection_state(completion: str, example: dict) -> float:
    """Makes cyclic garbage, then reports the worker's young collections since its last full one (negative when
    the worker's full collections are not deferred: a default threshold, or nothing frozen after warm-up)."""
    import gc

    for _ in range(int(example.get("cycles", 0))):
        a, b = [], []
        a.append(b)
        b.append(a)
    if gc.get_threshold()[2] < 2 ** 20 or gc.get_freeze_count() == 0:
        return -1.0
    return float(gc.get_count()[2])


def _length(completion: str, example: dict, scale: float = 1.0) -> float:
    return scale * len(completion)


@pytest.fixture(scope="module")
def pool():
    with RewardPool(workers=2, timeout_s=1.0) as pool:
        pool.wait_ready()
        yield pool


def test_pool_matches_inline(pool):
    rewards = {"length": (functools.partial(_length, scale=2.0), 0.5), "format": (format_reward, 1.0)}
    completions = ["<think>a</think> <answer>1</answer>", "x", "", "<answer>2</answer>"] * 40
    examples = [{"id": i} for i in range(len(completions))]
    pooled, inline = pool.score(rewards, completions, examples), score_inline(rewards, completions, examples)
    assert pooled.components == inline.components
    assert pooled.total_B == inline.total_B
    assert pooled.errors == {} and pooled.timeouts == {}


def test_timeouts_errors_and_crashes_are_counted_and_workers_replaced(pool):
    completions = ["ok", "hang", "raise", "crash", "exit", "nan", "timeout-error", "fine!"]
    examples = [{"id": i} for i in range(len(completions))]
    replaced = pool.replaced
    started = time.monotonic()
    scores = pool.score({"r": (misbehaving, 1.0)}, completions, examples)
    elapsed = time.monotonic() - started
    assert scores.components["r"] == [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0]
    assert scores.timeouts == {"r": 2}  # the hang (killed) and the reward's own TimeoutError
    assert scores.errors == {"r": 4}  # raise, crash, SystemExit, NaN
    assert pool.replaced == replaced + 2  # the hung worker and the crashed one
    assert elapsed < 60  # one 1 s timeout plus worker restarts (imports and warm-up), never the 600 s sleep
    metrics = scores.metrics()
    assert metrics["reward/r/timeouts"] == 2 and metrics["reward/r/errors"] == 4
    # the replaced workers serve the next batch normally
    again = pool.score({"r": (misbehaving, 1.0)}, ["abc"] * 10, [{}] * 10)
    assert again.components["r"] == [3.0] * 10 and not again.errors and not again.timeouts


@pytest.mark.parametrize("answer,hangs", [
    ("9^9^9^9", False),                                    # math-verify keeps it unevaluated: a quick, clean 0
    ("9^{9^{9^{9^{9}}}}!", False),                         # plain arithmetic beyond the size bounds: refused at once
    ("+".join(["x^{99}"] * 6000)[:50_000], False),         # a 50,000-character answer is compared as text only
    ("\\frac{" * 2000 + "1" + "}{2}" * 2000, False),
    ("(x+1)^{99999}", True),                               # sympy's expansion: math-verify's alarm, counted
])
def test_pathological_latex_returns_within_timeout_and_is_counted(pool, answer, hangs):
    completions = [f"<answer>{answer}</answer>", "<answer>7</answer>"]
    pool.wait_ready()  # workers replaced by an earlier test finish importing sympy before the clock starts
    started = time.monotonic()
    scores = pool.score({"accuracy": (math_accuracy, 1.0)}, completions, [{"id": "p", "answer": "7"}] * 2)
    assert time.monotonic() - started < pool.timeout_s + 5.0  # the time limit, never a hang (slack for a loaded CI)
    assert scores.components["accuracy"] == [0.0, 1.0]
    assert scores.timeouts.get("accuracy", 0) == int(hangs)
    assert not scores.errors


def test_inline_counts_errors_and_timeouts():
    scores = score_inline({"r": (misbehaving, 1.0)}, ["ok", "raise", "timeout-error", "nan"], [{}] * 4)
    assert scores.components["r"] == [2.0, 0.0, 0.0, 0.0]
    assert scores.errors == {"r": 2} and scores.timeouts == {"r": 1}


def test_score_convenience_and_bad_arguments():
    rewards = {"r": (misbehaving, 2.0)}
    assert score(rewards, ["ab", "raise"], [{}, {}]).total_B == [4.0, 0.0]
    assert score(rewards, ["ab", "raise"], [{}, {}], workers=1, timeout_s=5).total_B == [4.0, 0.0]
    with pytest.raises(ValueError, match="workers >= 1"):
        RewardPool(workers=0)
    with pytest.raises(ValueError, match="2 completions but 1 examples"):
        score_inline(rewards, ["a", "b"], [{}])


def test_unpicklable_reward_is_refused_with_advice(pool):
    with pytest.raises(ValueError, match="module-level function or a functools.partial"):
        pool.score({"lambda": (lambda c, e: 1.0, 1.0)}, ["a"], [{}])


def test_a_pool_that_cannot_start_says_why():
    with pytest.raises(RuntimeError, match="no_such_module"):
        with RewardPool(workers=1, timeout_s=1.0, preload=("no_such_module",)) as broken:
            broken.wait_ready()


def test_a_reward_that_cannot_load_in_workers_is_counted_per_item_without_crash_looping():
    from reward_fails_in_workers import constant

    with RewardPool(workers=1, timeout_s=5.0, preload=()) as fresh:
        fresh.wait_ready()
        started = time.monotonic()
        scores = fresh.score({"c": (constant, 1.0)}, ["a"] * 50, [{}] * 50)
        assert scores.components["c"] == [0.0] * 50 and scores.errors == {"c": 50}
        assert fresh.replaced == 0 and time.monotonic() - started < 5.0


def _other_length(completion: str, example: dict) -> float:
    return -1.0 * len(completion)


def test_submitted_batches_are_collected_in_any_order_each_with_its_own_rewards(pool):
    """Queued batches share the workers; a reward name in two batches keeps each batch's own function."""
    batches = [({"r": (_length, 1.0)}, ["a" * i for i in range(50)]),
               ({"r": (_other_length, 2.0), "format": (format_reward, 1.0)}, ["<answer>1</answer>", "bb"] * 30),
               ({"r": (misbehaving, 1.0)}, ["raise", "okay"] * 5)]
    tickets = [pool.submit(rewards, texts, [{"id": i} for i in range(len(texts))]) for rewards, texts in batches]
    for index in (2, 0, 1):
        rewards, texts = batches[index]
        examples = [{"id": i} for i in range(len(texts))]
        got, want = pool.collect(tickets[index]), score_inline(rewards, texts, examples)
        assert got.components == want.components and got.total_B == want.total_B
        assert got.errors == want.errors and got.timeouts == want.timeouts
    with pytest.raises(KeyError, match="already collected"):
        pool.collect(tickets[0])


def test_a_hang_in_one_queued_batch_is_charged_to_that_batch_only(pool):
    hung = pool.submit({"r": (misbehaving, 1.0)}, ["ok", "hang", "fine!"], [{}] * 3)
    clean = pool.submit({"r": (misbehaving, 1.0)}, ["abc"] * 20, [{}] * 20)
    assert pool.collect(clean).components["r"] == [3.0] * 20
    scores = pool.collect(hung)
    assert scores.components["r"] == [2.0, 0.0, 5.0] and scores.timeouts == {"r": 1} and not scores.errors


def test_workers_warm_up_reward_modules_once_and_a_failing_warm_up_is_logged_not_fatal(caplog):
    from reward_warm_up import warmed_count
    from reward_warm_up_fails import one

    with RewardPool(workers=1, timeout_s=5.0, preload=("reward_warm_up_fails",)) as fresh:
        fresh.wait_ready()  # preloaded: warmed (and failed) at start
        assert "warm-up exploded" in caplog.text
        first = fresh.score({"w": (warmed_count, 1.0), "one": (one, 1.0)}, ["a"] * 30, [{}] * 30)
        again = fresh.score({"w": (warmed_count, 1.0)}, ["b"] * 30, [{}] * 30)
    assert first.components["w"] == [1.0] * 30 and again.components["w"] == [1.0] * 30  # once, before the 1st unit
    assert first.components["one"] == [1.0] * 30 and not first.errors and not first.timeouts


def test_a_submitted_batch_is_scored_in_the_background_while_the_caller_does_other_work(pool):
    texts = ["<answer>7</answer>", "<answer>8</answer>"] * 100
    ticket = pool.submit({"accuracy": (math_accuracy, 1.0)}, texts, [{"id": i, "answer": "7"} for i in range(200)])
    waited = 0.0
    while not pool.done(ticket) and waited < 60:  # the caller never enters the pool: no collect, no score
        time.sleep(0.05)
        waited += 0.05
    assert pool.done(ticket)
    assert pool.collect(ticket).components["accuracy"] == [1.0, 0.0] * 100


def test_an_idle_worker_takes_back_the_unstarted_half_of_a_busy_workers_chunk_and_each_unit_runs_once():
    import random

    # chunks of 32: the first holds every slow unit; the second worker finishes its fast chunk at once and must
    # take units back from the first instead of idling
    slow = [i < 32 for i in range(64)]
    with RewardPool(workers=2, timeout_s=5.0, chunk_size=32, preload=()) as fresh:
        fresh.wait_ready()
        scores = fresh.score({"r": (paced, 1.0)}, ["slow" if s else "fast" for s in slow],
                             [{"i": i} for i in range(64)])
        assert scores.components["r"] == [float(i) for i in range(64)] and not scores.errors
        assert fresh.stolen > 0
        assert fresh.busy_s >= 32 * 0.01  # the workers' seconds inside rewards: at least the 32 sleeps
        rng = random.Random(0)  # many small chunks and random slow units: every unit reported once, in place
        tickets = []
        for batch in range(12):
            marks = ["slow" if rng.random() < 0.3 else "fast" for _ in range(48)]
            tickets.append((fresh.submit({"r": (paced, 1.0)}, marks, [{"i": 100 * batch + i} for i in range(48)]),
                            batch))
        for ticket, batch in tickets:
            got = fresh.collect(ticket)
            assert got.components["r"] == [float(100 * batch + i) for i in range(48)]
            assert not got.errors and not got.timeouts
        assert fresh.replaced == 0 and fresh.sent_ahead > 0  # chunks were also sent while the one before ran


def _worker_state(position: int, count: int, waiting: int = 0):
    """A _Worker's bookkeeping without a process: `count` units in the chunk it runs (unit `position` running, -1:
    not started) and, if `waiting`, a second chunk of that many units sent after it."""
    import multiprocessing

    from zero_rl.scoring import _NO_LIMIT, _Chunk, _Worker

    worker = _Worker.__new__(_Worker)
    worker.running = multiprocessing.get_context("spawn").Array("d", [float(position), 0.0, _NO_LIMIT, _NO_LIMIT])
    worker.lock, worker.shared = worker.running.get_lock(), worker.running.get_obj()
    worker.chunks = deque([_Chunk(base=0, units=[(0, unit) for unit in range(count)], stop=count)])
    if waiting:
        worker.chunks.append(_Chunk(base=count, units=[(0, unit) for unit in range(count, count + waiting)],
                                    stop=waiting))
    worker.sent = count + waiting
    return worker


@pytest.mark.parametrize("position,group,taken_from", [
    (1, 4, 16),     # half is 17: the cut moves to the prompt boundary at 16, so no prompt is split
    (1, 1, 17),     # every unit its own prompt: the half
    (5, 8, 16),     # half is 19: the nearest boundary is 16 (24 is farther)
    (27, 4, 28),    # the last group not started yet: it goes whole
    (1, 32, 32),    # one prompt only: nothing (its gold would be read twice for a few units)
    (30, 4, 32),    # the rest of the running unit's group: nothing
    (-1, 4, 16),    # the chunk not started yet (it waits in the pipe): half of it
    (31, 1, 32),    # the last unit running: nothing left to take
])
def test_take_back_cuts_between_prompts_nearest_the_half(position, group, taken_from):
    from zero_rl.scoring import _NO_LIMIT

    worker = _worker_state(position, 32)
    taken = worker.take_back(lambda a, b: a[1] // group == b[1] // group)
    assert taken == [(0, unit) for unit in range(taken_from, 32)]
    assert worker.chunks[0].left == [(0, unit) for unit in range(taken_from)]  # running and not yet reported
    # the worker skips positions [stop, all it was sent): here the chunk's end
    want = (taken_from, 32) if taken else (_NO_LIMIT, _NO_LIMIT)
    assert (worker.running[2], worker.running[3]) == want


def test_take_back_from_a_worker_holding_a_second_chunk_spans_both():
    same_prompt = lambda a, b: a[1] // 4 == b[1] // 4  # noqa: E731 - prompts of 4 units
    # running unit 10 of 32, 24 more waiting: 21 + 24 not started, about half (22) from the end: the half is 34,
    # the prompt starts at 32 and 36 are as near and the earlier wins: the whole second chunk
    worker = _worker_state(10, 32, waiting=24)
    taken = worker.take_back(same_prompt)
    assert taken == [(0, unit) for unit in range(32, 56)]
    assert (worker.running[2], worker.running[3]) == (32, 56)
    assert worker.chunks[0].left == [(0, unit) for unit in range(32)] and not worker.chunks[0].cut
    assert worker.chunks[1].left == [] and worker.chunks[1].cut
    # running unit 2: 29 + 24 not started, the half at 30 falls in the first chunk; the second goes whole
    worker = _worker_state(2, 32, waiting=24)
    taken = worker.take_back(same_prompt)
    assert taken == [(0, unit) for unit in range(28, 56)] and (worker.running[2], worker.running[3]) == (28, 56)
    assert worker.chunks[0].left == [(0, unit) for unit in range(28)] and worker.chunks[0].cut
    # a second take-back cuts earlier; its span covers the first one's (to all the worker was sent)
    taken = worker.take_back(same_prompt)
    assert taken == [(0, unit) for unit in range(16, 28)] and (worker.running[2], worker.running[3]) == (16, 56)


def test_workers_defer_full_collections_to_idle_time_and_still_bound_them_when_never_idle():
    from zero_rl.scoring import _GC_BUSY, _GC_IDLE

    with RewardPool(workers=1, timeout_s=30.0, preload=()) as fresh:
        fresh.wait_ready()
        # never idle: 300 units that each leave 5,000 cycles (several young collections a unit); the worker
        # runs a full collection mid-chunk once the count passes _GC_BUSY, so it never grows past one unit's worth
        busy = fresh.score({"gc": (collection_state, 1.0)}, ["x"] * 300, [{"cycles": 5000}] * 300).components["gc"]
        assert min(busy) >= 0, "the worker runs Python's default collector (full collections mid-batch)"
        assert max(busy) <= _GC_BUSY + 20 and max(busy) > _GC_IDLE  # deferred, and bounded
        assert any(later < earlier for earlier, later in zip(busy, busy[1:]))  # a full collection ran mid-chunk
        # idle between calls: the count is back under _GC_IDLE when the next batch starts
        for _ in range(200):  # first a count well over it (a busy collection may just have reset it)
            before_idle = fresh.score({"gc": (collection_state, 1.0)}, ["x"] * 5,
                                      [{"cycles": 5000}] * 5).components["gc"][-1]
            if before_idle >= _GC_IDLE + 5:
                break
        assert before_idle >= _GC_IDLE + 5
        time.sleep(0.5)
        after_idle = fresh.score({"gc": (collection_state, 1.0)}, ["x"], [{}]).components["gc"]
        assert after_idle[0] < _GC_IDLE


@pytest.mark.timeout(120)  # a pump blocked on the full pipe would hang here for the 600 s sleep
def test_a_worker_stuck_in_a_unit_is_killed_on_time_while_its_next_chunk_waits_in_a_full_pipe():
    # chunks of 4 and 40 units queued: each worker is sent its next chunk while it runs one. 4 x 400 kB is more
    # than a pipe holds, so writing it blocks until the worker reads; the hung worker never reads, and the pool
    # must still see its deadline, kill it and hand its chunks to the other
    big = "x" * 400_000
    completions = ["hang"] + [big] * 39
    with RewardPool(workers=2, timeout_s=1.0, chunk_size=4, preload=()) as fresh:
        fresh.wait_ready()
        started = time.monotonic()
        scores = fresh.score({"r": (misbehaving, 1.0)}, completions, [{"id": i} for i in range(40)])
        elapsed = time.monotonic() - started
        assert scores.components["r"] == [0.0] + [400_000.0] * 39
        assert scores.timeouts == {"r": 1} and not scores.errors and fresh.replaced == 1
        assert fresh.sent_ahead > 0
    assert elapsed < 30  # the 1 s limit and a worker restart, never the 600 s sleep


def chaotic(completion: str, example: dict) -> float:
    """example["i"], after whatever example["kind"] says: slow (5 ms), or hang, crash or raise as `misbehaving`."""
    if example["kind"] == "slow":
        time.sleep(0.005)
    else:
        misbehaving(example["kind"], example)
    return float(example["i"])


@pytest.mark.timeout(300)
def test_queued_batches_with_slow_hung_crashing_and_raising_units_each_score_exactly_what_they_earned():
    """Chunks sent ahead, units taken back and workers killed or dead, all in one run: every unit gets its own
    value or a counted 0, in its own batch."""
    import random

    rng = random.Random(7)
    batches = []
    for batch in range(10):  # prompts of 4 completions sharing one example, as a GRPO group does
        examples = []
        for group in range(15):
            kind = rng.choices(["fast", "slow", "raise"], [0.75, 0.22, 0.03])[0]
            example = {"i": 1000 * batch + group, "kind": kind}
            examples += [example] * 4
        batches.append(examples)
    for batch, position, kind in ((1, 9, "hang"), (4, 30, "crash"), (6, 57, "hang"), (8, 0, "crash")):
        batches[batch][position] = {"i": -1, "kind": kind}  # one completion of a group, alone
    with RewardPool(workers=2, timeout_s=1.0, chunk_size=8, preload=()) as fresh:
        fresh.wait_ready()
        tickets = [fresh.submit({"r": (chaotic, 1.0)}, ["c"] * len(examples), examples) for examples in batches]
        for ticket, examples in zip(tickets, batches):
            got = fresh.collect(ticket)
            kinds = [e["kind"] for e in examples]
            assert got.components["r"] == [0.0 if k in ("hang", "crash", "raise") else float(e["i"])
                                           for k, e in zip(kinds, examples)]
            assert got.timeouts.get("r", 0) == kinds.count("hang")
            assert got.errors.get("r", 0) == kinds.count("crash") + kinds.count("raise")
        assert fresh.replaced == 4 and fresh.sent_ahead > 0
