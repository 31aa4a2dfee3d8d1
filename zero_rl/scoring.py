"""Score a batch of completions with a task's weighted rewards, inline or in a process pool.

Every reward error or timeout is caught, scored 0, logged and counted per reward (`reward/<name>/errors`,
`reward/<name>/timeouts`), never silently. A reward raising TimeoutError counts as a timeout.
"""

import gc
import itertools
import logging
import os
import pickle
import select
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler

log = logging.getLogger("zero_rl.scoring")


@dataclass
class Scores:
    total_B: list  # weighted sum per completion
    components: dict  # reward name -> list of per-completion scores
    errors: dict = field(default_factory=dict)  # reward name -> count of completions whose reward raised
    timeouts: dict = field(default_factory=dict)  # reward name -> count of completions whose reward timed out
    not_applicable: dict = field(default_factory=dict)  # batched reward name -> count of None ("does not apply")
    steps: dict = field(default_factory=dict)
    """Process rewards: reward name -> per completion, its step scores ((end_char_offset, score), ...). Such a
    reward's entry in `components` is the mean of its step scores, and it is not part of total_B: it reaches
    the advantages per token (zero_rl/process_rewards.py)."""

    def metrics(self) -> dict:
        out = {}
        for name, values in self.components.items():
            out[f"reward/{name}"] = sum(values) / max(len(values), 1)
            out[f"reward/{name}/errors"] = self.errors.get(name, 0)
            out[f"reward/{name}/timeouts"] = self.timeouts.get(name, 0)
            if name in self.not_applicable:
                out[f"reward/{name}/not_applicable"] = self.not_applicable[name]
        for name, lists in self.steps.items():
            out[f"reward/{name}/steps_mean"] = sum(len(s) for s in lists) / max(len(lists), 1)
        return out


def reward_value(value, completion: str):
    """A reward's return value, checked: a finite float, or (for a process reward) step scores as a tuple of
    (end_char_offset, score) pairs with offsets in [0, len(completion)], non-decreasing, and finite scores.
    Anything else raises ValueError (the scorer counts it as the reward's error and scores 0)."""
    if isinstance(value, (list, tuple)):
        steps, previous = [], 0
        for item in value:
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise ValueError(f"step scores must be (end_char_offset, score) pairs, got {item!r}")
            offset, score = item
            if isinstance(offset, bool) or not isinstance(offset, int) or not previous <= offset <= len(completion):
                raise ValueError(f"step end offset {offset!r} is not an integer in [{previous}, {len(completion)}] "
                                 "(offsets are character positions in the completion, non-decreasing)")
            score = float(score)
            if score != score or score in (float("inf"), float("-inf")):
                raise ValueError(f"step score {score} at offset {offset} is not finite")
            steps.append((offset, score))
            previous = offset
        return tuple(steps)
    value = float(value)
    if value != value:
        raise ValueError("returned NaN")
    return value


def finish_scores(rewards: dict, components: dict, completions: list, errors: dict, timeouts: dict) -> Scores:
    """Scores from raw per-completion values: a reward that returned step scores for any completion is a process
    reward (a plain number it returned for another completion, e.g. a counted error's 0, is one step at the
    end); every other reward enters total_B with its weight."""
    steps = {}
    for name, values in components.items():
        if any(isinstance(v, tuple) for v in values):
            steps[name] = [v if isinstance(v, tuple) else ((len(c), v),) for v, c in zip(values, completions)]
            components[name] = [sum(s for _, s in v) / len(v) if v else 0.0 for v in steps[name]]
    total_B = [0] * len(completions)  # sum() order, reward by reward: the same floats, without a generator a row
    for name in rewards:
        if name not in steps:
            weight = rewards[name][1]
            total_B = [total + weight * value for total, value in zip(total_B, components[name])]
    return Scores(total_B=total_B, components=components, errors=errors, timeouts=timeouts, steps=steps)


# ---- batched rewards ------------------------------------------------------------------------------------------
#
# A reward with `batched = True` (e.g. zero_rl.rewards.trl_adapter.TRLReward) is called once per batch, in this
# process: fn.score_batch(completions, examples) -> [float | None]. None means "does not apply": scored 0 and
# counted as not_applicable. An exception or a wrong-length result scores the whole batch 0 (errors += batch);
# one value that is not a finite number scores that completion 0 (errors += 1).


def _split_batched(rewards: dict) -> tuple[dict, dict]:
    batched = {n: r for n, r in rewards.items() if getattr(r[0], "batched", False)}
    return batched, {n: r for n, r in rewards.items() if n not in batched}


def _score_batched(fn, name, completions, examples, errors, not_applicable) -> list:
    not_applicable[name] = 0
    try:
        raw = fn.score_batch(completions, examples)
    except Exception as error:  # a reward bug or bad input: counted, logged zeros
        errors[name] = errors.get(name, 0) + len(completions)
        log.warning("reward %r raised %s: %s on a batch of %d; scored 0", name, type(error).__name__, error,
                    len(completions))
        return [0.0] * len(completions)
    values = []
    for value, example in zip(raw, examples):
        if value is None:
            not_applicable[name] += 1
            values.append(0.0)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            errors[name] = errors.get(name, 0) + 1
            log.warning("reward %r returned %r (example id %r); scored 0", name, value, example.get("id"))
            number = 0.0
        values.append(number)
    return values


def _with_batched(scores: Scores, rewards: dict, batched: dict, completions: list, examples: list) -> Scores:
    """`scores` (of the per-completion rewards) with the batched rewards' components added, in `rewards` order."""
    for name, (fn, _weight) in batched.items():
        scores.components[name] = _score_batched(fn, name, completions, examples, scores.errors,
                                                 scores.not_applicable)
    scores.components = {name: scores.components[name] for name in rewards}
    scores.total_B = [sum(rewards[name][1] * scores.components[name][i] for name in rewards
                          if name not in scores.steps)  # process rewards reach the advantages per token
                      for i in range(len(completions))]
    return scores


def _safe_call(name, fn, completion, example, errors, timeouts):
    try:
        value = reward_value(fn(completion, example), completion)
    except TimeoutError as error:  # e.g. math-verify's own alarm in zero_rl.rewards.math_answer
        timeouts[name] = timeouts.get(name, 0) + 1
        log.warning("reward %r timed out: %s (example id %r); scored 0", name, error, example.get("id"))
        return 0.0
    except Exception as error:  # a reward bug or bad input: a counted, logged zero
        errors[name] = errors.get(name, 0) + 1
        log.warning("reward %r raised %s: %s (example id %r); scored 0", name, type(error).__name__, error,
                    example.get("id"))
        return 0.0
    return value


def score_inline(rewards: dict, completions: list, examples: list) -> Scores:
    """Score in this process: rewards is {name: (fn, weight)}; examples[i] belongs to completions[i].

    No wall-clock limit here: use it for cheap rewards (arithmetic, format) and RewardPool for the rest.
    """
    if len(completions) != len(examples):
        raise ValueError(f"{len(completions)} completions but {len(examples)} examples")
    batched, per_completion = _split_batched(rewards)
    if batched:
        return _with_batched(score_inline(per_completion, completions, examples), rewards, batched, completions,
                             examples)
    errors, timeouts, components = {}, {}, {}
    for name, (fn, _weight) in rewards.items():
        components[name] = [_safe_call(name, fn, c, e, errors, timeouts) for c, e in zip(completions, examples)]
    return finish_scores(rewards, components, completions, errors, timeouts)


# ---- process pool -------------------------------------------------------------------------------------------
#
# Why not concurrent.futures.ProcessPoolExecutor: it cannot stop one stuck task (a C-level sympy call ignores
# everything but a kill), and killing a worker breaks the whole executor. Here each worker is a long-lived
# spawned process with its own pipe; the parent hands it a chunk of (reward, item) units. The worker writes the
# position and start time of the unit it is running into a small shared array (no message, no syscall) and
# sends its results in batches every _FLUSH_S, so the parent wakes a few dozen times a second, not once per unit.
# From the shared array the parent knows exactly which unit passed its deadline: that one scores a counted
# timeout, the worker is killed and replaced, and every other unreported unit of its chunk goes back in the
# queue (a finished but unsent result is recomputed, never guessed). Spawn, not fork: forking a parent that holds
# torch/OpenMP threads can deadlock.
#
# Balance: each worker gets an equal share of the queue as one chunk (few round trips), and an idle worker takes
# back the later half of the unstarted units of the busiest one. Units are numbered across all the chunks a worker
# was sent; the shared array also holds the span of numbers taken back, which the worker checks, under the same
# lock, before starting each unit, so a unit taken back is never run twice. The worker ends each chunk with a
# "done" flag. While the queue holds a full chunk for every worker, a worker is sent its next chunk while it runs
# one (a per-worker feeder thread writes it, so the pump never blocks on a full pipe): it starts that one at
# once instead of waiting about a millisecond per chunk for the pump (queued, 91 % -> 94-96 % of the workers'
# time inside rewards). A worker holding a chunk that lost units to another gets no chunk ahead, so the span
# taken back is always one span at the end of all it was sent. Costs are heavy-tailed (a few
# completions take 100x the median, and a hard gold answer makes a prompt's whole group slow), so without this a
# chunk that drew several slow units kept one worker busy while the other idled. Units stay in batch order, so a
# prompt's G completions mostly meet in one worker, which reads their gold answer once (scattering them, as an
# earlier version did, made both workers parse every gold: 1.2-1.3x the serial CPU on GRPO-shaped batches).
#
# Jobs: `submit` queues a batch and returns a ticket at once; `collect` waits for that batch. One parent thread
# (the pump) does all the talking to the workers: it hands out chunks, reads results and enforces deadlines,
# while the caller's thread only queues jobs and waits on a condition. So a batch is scored while the caller
# does other work (an eval generating chunk k + 1 while chunk k is scored), and units of every queued batch
# share one queue, so the workers do not wait at a batch boundary for one slow unit of the last batch.
#
# Warm-up: a reward module may define `warm_up()`. A worker calls it once per module, at start for the preloaded
# ones and before the first unit for any other, so lazy first-use costs (sympy and math-verify build parsers and
# caches on first use: about a second) are paid outside every unit's deadline and not by the first batch.
#
# Garbage collection: a full collection of a worker's heap (sympy, math-verify, their caches) takes 50-80 ms, and
# Python runs one every few thousand math completions, in the middle of whatever unit is running: about 4 % of
# the scoring CPU, and 10-15 % of a half-second batch that draws one. A worker freezes what its imports and warm-up
# made (never scanned again), turns automatic full collections off and runs one itself when no chunk came for
# _IDLE_S (between a training step's batches, while the next is generated; not in the millisecond between two
# chunks of one batch), or mid-chunk when it has not been idle for _GC_BUSY young collections, so cyclic garbage
# stays bounded.

_STARTUP_S = 120.0  # a fresh worker imports sympy and the reward modules before it says it is ready
_FLUSH_S = 0.02  # a worker sends the results it holds at least this often (and at the end of each chunk)
_POLL_S = 0.05  # the parent looks at the running units' start times at least this often
_CHUNK_MAX = 256  # units per chunk at most: an equal share of the queue per worker, rebalanced by taking back
_GC_NEVER = 2 ** 30  # a worker's threshold for automatic full collections
_GC_IDLE = 10  # a worker with no chunk for _IDLE_S runs a full collection after this many young ones (Python: 10)
_IDLE_S = 0.05
_GC_BUSY = 200  # ... and one that never waits, mid-chunk after this many
_NO_LIMIT = float(2 ** 52)  # the span taken back, [_NO_LIMIT, _NO_LIMIT), while the parent has taken none


def _warm_up(module_name: str, conn) -> None:
    """Call `module.warm_up()` if the module has one; a failure is reported (logged by the parent), not fatal:
    warming only saves time."""
    import importlib

    try:
        warm = getattr(importlib.import_module(module_name), "warm_up", None)
        if callable(warm):
            warm()
    except BaseException as error:  # noqa: BLE001 - a warm-up must never stop the worker
        conn.send(("warning", f"{module_name}.warm_up() raised {type(error).__name__}: {error}"[:500]))


def _worker_main(conn, preload, running) -> None:
    import importlib
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes the pool
    try:
        for module in preload:
            importlib.import_module(module)
    except BaseException as error:  # noqa: BLE001 - report it: a pool that cannot start must say why
        conn.send(("startup_error", f"importing {module!r}: {type(error).__name__}: {error}"))
        return
    lock, shared = running.get_lock(), running.get_obj()  # the raw array: one lock per unit, not one per access
    warmed = set(preload)
    for module in preload:
        _warm_up(module, conn)
    gc.collect()
    gc.freeze()  # the imports and the warm-up's caches: never scanned again
    gc.set_threshold(*gc.get_threshold()[:2], _GC_NEVER)  # full collections: when idle (below), not mid-batch
    conn.send(("ready",))
    while True:
        if gc.get_count()[2] >= _GC_IDLE and not conn.poll(_IDLE_S):  # not between two chunks of one batch
            gc.collect()
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        except Exception as error:  # a reward or example that does not unpickle here (e.g. its module fails)
            conn.send(("chunk_error", f"could not receive the rewards: {type(error).__name__}: {error}"[:500]))
            continue
        if message is None:
            return
        base, rewards, units = message  # base: the position of its first unit in all the worker was sent;
        # rewards: {key: fn}; units: [(key, completion, example), ...]
        for fn in rewards.values():  # before the first unit starts: counts against the start-up limit
            module = getattr(fn, "func", fn).__module__
            if module not in warmed:
                warmed.add(module)
                _warm_up(module, conn)
        results, flushed = [], time.monotonic()
        for position, (key, completion, example) in enumerate(units, start=base):
            with lock:  # the parent reads these together: the unit past its deadline, or the units it took
                if shared[2] <= position < shared[3]:  # back for an idle worker (the span [stop, end))
                    break
                started = shared[1] = time.monotonic()
                shared[0] = position
            results.append(_run_unit(rewards[key], completion, example) + (time.monotonic() - started,))
            if gc.get_count()[2] >= _GC_BUSY:  # never idle: memory stays bounded all the same
                gc.collect()
            if started - flushed >= _FLUSH_S:
                conn.send(("results", results, False))
                results, flushed = [], time.monotonic()
        conn.send(("results", results, True))  # True: done with this chunk (the next may be waiting in the pipe)


def _run_unit(fn, completion, example) -> tuple:
    """("ok", value) | ("timeout", message) | ("error", message), never raises."""
    try:
        value = reward_value(fn(completion, example), completion)
    except TimeoutError as error:
        return ("timeout", f"{type(error).__name__}: {error}"[:500])
    except BaseException as error:  # noqa: BLE001 - SystemExit or a library's BaseException must not kill the worker
        if type(error).__name__ == "TimeoutException":  # math-verify's own alarm, if a reward let it escape
            return ("timeout", f"{type(error).__name__}: {error}"[:500])
        return ("error", f"{type(error).__name__}: {error}"[:500])
    return ("ok", value)


@dataclass
class _Chunk:
    """Units handed to a worker in one message: (ticket, unit) in the order the worker runs them."""
    base: int  # the position of its first unit among all units ever sent to the worker
    units: list
    reported: int = 0  # units[:reported] are settled
    stop: int = 0  # units[stop:] were taken back for another worker (set to len(units) at first)
    cut: bool = False  # some of its units were taken back

    @property
    def left(self) -> list:
        return self.units[self.reported:self.stop]


class _Worker:
    def __init__(self, context, preload):
        import queue
        import threading

        parent_conn, child_conn = context.Pipe()
        # [position of the unit running among all units sent to the worker, its start, the span of positions
        #  [stop, end) taken back for another worker]
        self.running = context.Array("d", [-1.0, 0.0, _NO_LIMIT, _NO_LIMIT])
        self.lock, self.shared = self.running.get_lock(), self.running.get_obj()  # raw: one lock per read
        self.process = context.Process(target=_worker_main, args=(child_conn, tuple(preload), self.running),
                                       daemon=True)
        self.process.start()
        child_conn.close()
        self.conn = parent_conn
        self.fd = parent_conn.fileno()
        self.more = select.poll()  # whether more results wait in the pipe: one poll(2), no selector built per call
        self.more.register(self.fd, select.POLLIN)
        # a chunk is written by this thread, never by the pump: a chunk sent while the worker runs the one before
        # waits in the pipe, and a write to a full pipe blocks until the worker reads; the pump must stay free to
        # read results and kill a worker stuck in a unit
        self.outbox = queue.SimpleQueue()
        self.feeder = threading.Thread(target=_feed, args=(parent_conn, self.outbox), daemon=True,
                                       name="zero-rl-reward-feeder")
        self.feeder.start()
        self.ready = False
        self.started_at = time.monotonic()
        self.chunks = deque()  # _Chunk sent and not yet done, oldest first: the one running, then one waiting
        self.sent = 0  # units sent over the worker's life: the next chunk's base
        self.deadline = self.started_at + _STARTUP_S

    def assign(self, units: list, message_of, now: float) -> None:
        """Send a chunk of (ticket, unit); `message_of(units)` gives ({key: fn}, [(key, completion, example)])."""
        functions, payload = message_of(units)
        data = ForkingPickler.dumps((self.sent, functions, payload))  # here: a pickling error stops the pump
        self.chunks.append(_Chunk(base=self.sent, units=units, stop=len(units)))
        self.sent += len(units)
        self.deadline = now + _STARTUP_S  # until its first unit starts: unpickling may import and warm modules
        self.outbox.put(data)

    @property
    def unreported(self) -> int:
        return sum(chunk.stop - chunk.reported for chunk in self.chunks)

    def running_unit(self, timeout_s: float) -> tuple:
        """(index into the units left of its chunks, oldest first, of the unit running now, or None; the deadline of
        the worker). The units left are consecutive positions: a chunk is sent after another only while that one
        keeps all its units."""
        with self.lock:
            position, started = int(self.shared[0]), self.shared[1]
        oldest = self.chunks[0] if self.chunks else None
        if oldest is None or position < oldest.base + oldest.reported:
            return None, self.deadline  # between chunks, or not started on the oldest one
        return position - oldest.base - oldest.reported, started + timeout_s

    def take_back(self, same_group) -> list:
        """About the later half of the units this worker has not started (the earlier part and the unit running
        stay with it), for an idle worker; [] when it has none, or the rest is part of one group. The cut falls
        between two groups (`same_group(a, b)`: two units of one prompt, whose worker reads its gold once), the
        nearest such cut to the half. Atomic against the worker's own check of the span taken back before each
        unit, so a unit is never run by both or by neither."""
        left = [(chunk.base + index, chunk.units[index]) for chunk in self.chunks
                for index in range(chunk.reported, chunk.stop)]
        if not left:
            return []
        oldest = self.chunks[0]
        previous = [oldest.units[oldest.reported - 1] if oldest.reported else None]  # None: a chunk starts a group
        previous += [unit for _, unit in left[:-1]]
        # found before locking, the worker may not wait: positions where a prompt's group starts
        starts = [position for (position, unit), prior in zip(left, previous)
                  if prior is None or not same_group(prior, unit)]
        last = left[-1][0]
        with self.lock:
            first = max(int(self.shared[0]) + 1, left[0][0])  # not started: [first, last]
            cuts = [position for position in starts if position >= first]
            if not cuts:  # the rest is one prompt's group: splitting it would read its gold twice
                return []
            half = last + 1 - (last + 1 - first) // 2
            stop = min(cuts, key=lambda p: (abs(p - half), p))
            # from the stop to all it was ever sent: spans taken back before lie inside it
            self.shared[2], self.shared[3] = float(stop), float(self.sent)
        for chunk in self.chunks:
            keep = min(chunk.stop, max(chunk.reported, stop - chunk.base))
            chunk.cut, chunk.stop = chunk.cut or keep < chunk.stop, keep
        return [unit for position, unit in left if position >= stop]

    def kill(self):
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.outbox.put(None)
        self.feeder.join(timeout=5)  # a write to the dead worker fails at once
        if not self.feeder.is_alive():  # never close a pipe the feeder may still write to (its number is reused)
            self.conn.close()


def _feed(conn, outbox) -> None:
    """A worker's feeder thread: writes the pickled chunks the pump queues, in order, until None or a failed write
    (the worker died: the pump sees that on its end of the pipe)."""
    while True:
        data = outbox.get()
        if data is None:
            return
        try:
            conn.send_bytes(data)
        except Exception:  # noqa: BLE001 - a dead or closed pipe; nothing to report from here
            return


@dataclass
class _Job:
    """One submitted batch: its rewards, items and (as they arrive) results."""
    rewards: dict  # name -> (fn, weight)
    completions: list
    examples: list
    units: list  # (reward name, item index), in scoring order
    results: list
    errors: dict = field(default_factory=dict)
    timeouts: dict = field(default_factory=dict)
    remaining: int = 0
    batched: dict = field(default_factory=dict)  # rewards called once per batch, at collect, in the caller


class RewardPool:
    """Scores completions in `workers` spawned processes with a wall-clock limit per (reward, completion).

    A reward that raises scores 0 and is counted in Scores.errors; one that passes `timeout_s`, or whose
    worker crashes, scores 0 and is counted in Scores.timeouts / Scores.errors; the worker is killed and
    replaced. Rewards must be picklable (module-level functions or functools.partial of one).

    `score(...)` scores one batch; `submit(...)` queues one and returns a ticket for `collect(ticket)`: the batch
    is scored in the background meanwhile, so the caller can generate the next one.
    """

    def __init__(self, workers: int = 2, timeout_s: float = 10.0, preload: tuple = ("math_verify", "zero_rl.rewards.math_answer"),
                 chunk_size: int | None = None):
        if workers < 1:
            raise ValueError(f"RewardPool needs workers >= 1, got {workers} (use score_inline for 0)")
        if timeout_s <= 0:
            raise ValueError(f"RewardPool needs timeout_s > 0, got {timeout_s}")
        import multiprocessing
        import threading

        self.timeout_s = float(timeout_s)
        self.chunk_size = chunk_size
        self.preload = list(preload)
        self.context = multiprocessing.get_context("spawn")
        self.workers = [_Worker(self.context, self.preload) for _ in range(workers)]
        self.replaced = 0  # workers killed for a timeout or found dead, over the pool's life
        self.stolen = 0  # units taken back from a busy worker's chunk for an idle one, over the pool's life
        self.sent_ahead = 0  # chunks sent to a worker while it ran the one before, over the pool's life
        self.busy_s = 0.0  # seconds the workers spent inside rewards, over the pool's life (utilisation)
        self._jobs = {}  # ticket -> _Job, until collected
        self._pending = deque()  # (ticket, unit) not yet handed to a worker, in order
        self._next_ticket = 0
        self._cond = threading.Condition()  # guards _jobs, _pending, workers, _error, _closed
        self._error = None  # what stopped the pump thread; raised to every caller after
        self._callers_waiting_on = False  # the pump has news for callers waiting on _cond (a batch done, a worker up)
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()  # a byte here wakes the pump (new job, close)
        os.set_blocking(self._wake_r, False)
        self._poller = select.poll()  # the pump's one poll set (a selector built per wait costs a core tens of µs)
        self._poller.register(self._wake_r, select.POLLIN)
        self._polled = set()  # the workers' pipe numbers registered in it
        self._pump = threading.Thread(target=self._pump_loop, name="zero-rl-reward-pool", daemon=True)
        self._pump.start()

    # ---- the caller's side

    def wait_ready(self) -> float:
        """Block until every worker has started; returns the seconds waited (the pool's start-up cost)."""
        started = time.monotonic()
        with self._cond:
            self._cond.wait_for(lambda: self._error is not None or self._closed or all(w.ready for w in self.workers))
            self._raise_if_failed()
        return time.monotonic() - started

    def score(self, rewards: dict, completions: list, examples: list) -> Scores:
        """Like score_inline: rewards is {name: (fn, weight)}; examples[i] belongs to completions[i]."""
        return self.collect(self.submit(rewards, completions, examples))

    def submit(self, rewards: dict, completions: list, examples: list) -> int:
        """Queue a batch for scoring; returns at once with the ticket to `collect`."""
        if len(completions) != len(examples):
            raise ValueError(f"{len(completions)} completions but {len(examples)} examples")
        batched, per_completion = _split_batched(rewards)  # batched ones run at collect, in this process
        for name, (fn, _weight) in per_completion.items():
            try:
                pickle.dumps(fn)
            except Exception as error:
                raise ValueError(f"reward {name!r} cannot be sent to a worker process ({error}); use a module-level "
                                 "function or a functools.partial of one") from error
        units = [(name, i) for i in range(len(completions)) for name in per_completion]
        with self._cond:
            self._raise_if_failed()
            for module in {getattr(fn, "func", fn).__module__ for fn, _ in per_completion.values()}:
                if module not in self.preload and module != "__main__":
                    self.preload.append(module)  # replacement workers import it before they say ready
            ticket, self._next_ticket = self._next_ticket, self._next_ticket + 1
            self._jobs[ticket] = _Job(rewards=dict(rewards), completions=list(completions),
                                      examples=list(examples), units=units, results=[None] * len(units),
                                      remaining=len(units), batched=batched)
            self._pending.extend(zip(itertools.repeat(ticket), range(len(units))))  # units in order
        os.write(self._wake_w, b"j")
        time.sleep(0)  # hand the GIL to the pump now: a caller queueing many batches would delay the first chunk ~5 ms
        return ticket

    def collect(self, ticket: int) -> Scores:
        """Wait for a submitted batch and return its Scores (each ticket once)."""
        with self._cond:
            job = self._jobs.get(ticket)
            if job is None:
                raise KeyError(f"no batch with ticket {ticket!r} is waiting (already collected, or never submitted)")
            self._cond.wait_for(lambda: not job.remaining or self._error is not None or self._closed)
            self._raise_if_failed()
            del self._jobs[ticket]
        names = [name for name in job.rewards if name not in job.batched]
        components = {name: job.results[k::len(names)] for k, name in enumerate(names)}  # units: item by item
        scores = finish_scores({name: job.rewards[name] for name in names}, components, job.completions, job.errors,
                               job.timeouts)
        if job.batched:
            return _with_batched(scores, job.rewards, job.batched, job.completions, job.examples)
        return scores

    def done(self, ticket: int) -> bool:
        """Whether a submitted batch is fully scored (collect would return at once)."""
        with self._cond:
            self._raise_if_failed()
            job = self._jobs.get(ticket)
            if job is None:
                raise KeyError(f"no batch with ticket {ticket!r} is waiting (already collected, or never submitted)")
            return not job.remaining

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"the reward pool stopped: {self._error}") from self._error
        if self._closed:
            raise RuntimeError("the reward pool is closed")

    def close(self) -> None:
        """Stop the pump and the workers. Workers hold nothing to flush, and a clean interpreter exit after sympy
        can take seconds, so they are killed rather than asked. Batches not collected are dropped."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        os.write(self._wake_w, b"c")
        self._pump.join(timeout=10)
        for worker in self.workers:
            worker.kill()
        self.workers = []
        self._jobs.clear()
        self._pending.clear()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the pump thread's side: the only code that talks to the workers

    def _pump_loop(self) -> None:
        try:
            while not self._closed:
                self._step()
        except BaseException as error:  # noqa: BLE001 - handed to every caller instead of dying unseen
            with self._cond:
                self._error = error
                self._cond.notify_all()

    def _step(self) -> None:
        """One round: hand out chunks, wait (until a result, a new job, the nearest deadline or _POLL_S) and then
        settle results and kill and replace any worker whose running unit passed its deadline."""
        with self._cond:
            if self._closed:
                return
            self._dispatch(time.monotonic())
            busy = [w for w in self.workers if not w.ready or w.chunks]
        timeout = None  # nothing to do: sleep until a job arrives
        if busy:
            deadline = min(w.running_unit(self.timeout_s)[1] if w.unreported else w.deadline for w in busy)
            timeout = max(0.0, min(_POLL_S, deadline - time.monotonic()))
        ready = self._wait(busy, timeout)
        with self._cond:
            if self._closed:
                return
            self._receive(ready)
            self._enforce_deadlines(time.monotonic())
            if self._callers_waiting_on:  # a batch finished or a worker started: wake the callers (only then:
                self._callers_waiting_on = False  # every needless wake takes a core from a worker)
                self._cond.notify_all()

    def _wait(self, busy: list, timeout) -> set:
        """The busy workers whose pipes have something to read (a message, or the end of a dead worker's pipe),
        after at most `timeout` seconds (None: until a worker or the wake pipe has something)."""
        fds = {worker.fd: worker for worker in busy}
        for fd in self._polled - fds.keys():  # a finished or replaced worker's pipe (its number may be reused)
            self._poller.unregister(fd)
        for fd in fds.keys() - self._polled:
            self._poller.register(fd, select.POLLIN)
        self._polled = set(fds)
        events = self._poller.poll(None if timeout is None else 1000 * timeout)
        ready = set()
        for fd, _ in events:
            if fd == self._wake_r:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
            else:
                ready.add(fds[fd])
        return ready

    def _receive(self, ready: set) -> None:
        for index, worker in enumerate(self.workers):
            if worker not in ready:
                continue
            try:
                while True:  # every message waiting: the first is there (or the pipe's end: EOFError)
                    message = worker.conn.recv()
                    if message[0] == "startup_error":
                        raise RuntimeError(f"reward worker could not start: {message[1]}")
                    if message[0] == "warning":
                        log.warning("reward worker %d: %s", index, message[1])
                    elif message == ("ready",):
                        worker.ready = True
                        self._callers_waiting_on = True
                    elif message[0] == "chunk_error":  # every unit of its oldest chunk fails the same way
                        chunk = worker.chunks.popleft()
                        for unit in chunk.left:
                            self._settle(*unit, "error", message[1], index)
                    elif message[0] == "results":  # [(status, value, seconds), ...] for the next units
                        chunk = worker.chunks[0]
                        if len(message[1]) > chunk.stop - chunk.reported:
                            raise RuntimeError(f"reward worker {index} reported {len(message[1])} results for "
                                               f"{chunk.stop - chunk.reported} units of its chunk")
                        self._settle_results(chunk, message[1], index)
                        if message[2]:  # done with it: every unit before its stop was run
                            if chunk.reported != chunk.stop:
                                raise RuntimeError(f"reward worker {index} ended a chunk with "
                                                   f"{chunk.stop - chunk.reported} units not run")
                            worker.chunks.popleft()
                    if not worker.more.poll(0):
                        break
            except (EOFError, OSError):  # the worker died: its running unit is an error, the rest go back
                worker.process.join(timeout=1)
                code = worker.process.exitcode
                if not worker.ready:
                    raise RuntimeError(f"a reward worker died while starting (exit code {code})") from None
                self._give_back(worker, index, "error", f"worker process died (exit code {code})")
                self._replace(index)

    def _enforce_deadlines(self, now: float) -> None:
        for index, worker in enumerate(self.workers):
            if worker.unreported:
                running, deadline = worker.running_unit(self.timeout_s)
                if now >= deadline:
                    if running is None:
                        log.warning("reward worker %d did not start its chunk within %g s; replacing it",
                                    index, _STARTUP_S)
                    self._give_back(worker, index, "timeout", f"no result after {self.timeout_s:g} s")
                    self._replace(index)
            elif not worker.ready and now >= worker.deadline:
                log.warning("reward worker %d did not start within %g s; replacing it", index, _STARTUP_S)
                self._replace(index)

    def _replace(self, index: int) -> None:
        self.workers[index].kill()
        self.workers[index] = _Worker(self.context, self.preload)
        self.replaced += 1

    def _settle_results(self, chunk, results: list, worker_index: int) -> None:
        """The next len(results) units of `chunk`, in order: [(status, value, seconds), ...]. The common case (a
        value, in the same batch as the unit before) costs a few list operations: the parent's CPU is taken from a
        worker's core."""
        job_ticket, job, busy_s = None, None, 0.0
        for (ticket, unit), (status, value, seconds) in zip(chunk.units[chunk.reported:], results):
            busy_s += seconds
            if status != "ok":
                self._settle(ticket, unit, status, value, worker_index)
                continue
            if ticket != job_ticket:
                job_ticket, job = ticket, self._jobs[ticket]
            job.results[unit] = value
            job.remaining -= 1
            if not job.remaining:
                self._callers_waiting_on = True
        chunk.reported += len(results)
        self.busy_s += busy_s

    def _settle(self, ticket: int, unit: int, status: str, value, worker_index: int) -> None:
        job = self._jobs[ticket]
        job.remaining -= 1
        self._callers_waiting_on = self._callers_waiting_on or not job.remaining
        name, item = job.units[unit]
        if status == "ok":
            job.results[unit] = value
            return
        job.results[unit] = 0.0
        counter = job.timeouts if status == "timeout" else job.errors
        counter[name] = counter.get(name, 0) + 1
        log.warning("reward %r %s on completion %d (example id %r), worker %d: %s; scored 0", name,
                    "timed out" if status == "timeout" else "failed", item, job.examples[item].get("id"),
                    worker_index, value)

    def _give_back(self, worker, index: int, status: str, message: str) -> None:
        """The worker is dead or killed: its running unit scores `status`; the rest of its chunks is requeued
        at the front of the queue."""
        running, _ = worker.running_unit(self.timeout_s)
        left = [unit for chunk in worker.chunks for unit in chunk.left]
        if running is not None and running < len(left):
            self._settle(*left.pop(running), status, message, index)
        self._pending.extendleft(reversed(left))
        worker.chunks.clear()

    def _same_group(self, a: tuple, b: tuple) -> bool:
        """Whether two queued units score one example (a prompt's G completions share it)."""
        if a[0] != b[0]:
            return False
        job = self._jobs[a[0]]
        first, second = job.examples[job.units[a[1]][1]], job.examples[job.units[b[1]][1]]
        return first is second or first == second

    def _dispatch(self, now: float) -> None:
        """Hand a chunk to every started worker that has none; when the queue is empty, take back for it about half
        of the unstarted units of the busiest worker (so a chunk that drew several slow units does not leave one
        worker idle while the other works through them). While the queue holds a full chunk for every worker, a
        worker also gets its next chunk while it runs one, so it starts that at once instead of waiting for the
        pump (about a millisecond per chunk). A chunk ends at the end of a prompt's group: a group split between
        workers has its gold read (parsed, for math) twice."""
        for index, worker in enumerate(self.workers):
            if not worker.ready or worker.chunks:
                continue
            if not self._pending:
                busy = [w for w in self.workers if w.unreported and w is not worker]
                victim = max(busy, key=lambda w: w.unreported, default=None)
                taken = victim.take_back(self._same_group) if victim is not None else []
                if not taken:
                    continue
                self._pending.extendleft(reversed(taken))
                self.stolen += len(taken)
            self._send_chunk(index, worker, now)
        for index, worker in enumerate(self.workers):
            if (worker.ready and len(worker.chunks) == 1 and not worker.chunks[0].cut  # one span taken back at most
                    and len(self._pending) >= (self.chunk_size or _CHUNK_MAX) * len(self.workers)):
                self._send_chunk(index, worker, now)
                self.sent_ahead += 1

    def _send_chunk(self, index: int, worker, now: float) -> None:
        chunk = self.chunk_size or max(1, min(_CHUNK_MAX, len(self._pending) // len(self.workers)))
        take = [self._pending.popleft() for _ in range(min(chunk, len(self._pending)))]
        while self._pending and self._same_group(take[-1], self._pending[0]):  # a prompt's group stays whole
            take.append(self._pending.popleft())
        worker.assign(take, self._message, now)

    def _message(self, units: list) -> tuple:
        """({(ticket, reward name): fn}, [((ticket, reward name), completion, example), ...]) for a worker."""
        payload, functions = [], {}
        job_ticket = job = None
        for ticket, unit in units:
            if ticket != job_ticket:
                job_ticket, job, keys = ticket, self._jobs[ticket], {}
            name, item = job.units[unit]
            key = keys.get(name)
            if key is None:  # one object per (ticket, reward): pickled once, then referenced
                key = keys[name] = (ticket, name)
                functions[key] = job.rewards[name][0]
            payload.append((key, job.completions[item], job.examples[item]))
        return functions, payload


def score(rewards: dict, completions: list, examples: list, workers: int = 0, timeout_s: float = 10.0) -> Scores:
    """One-off scoring: inline for workers=0, else in a temporary RewardPool (pays its start-up each call;
    a training loop should keep one RewardPool open instead)."""
    if workers == 0:
        return score_inline(rewards, completions, examples)
    with RewardPool(workers=workers, timeout_s=timeout_s) as pool:
        return pool.score(rewards, completions, examples)
