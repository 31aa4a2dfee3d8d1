"""Score a batch of completions with a task's weighted rewards, inline or in a process pool.

Every reward error or timeout is caught, scored 0, logged and counted per reward (`reward/<name>/errors`,
`reward/<name>/timeouts`), never silently. A reward raising TimeoutError counts as a timeout.
"""

import logging
import pickle
import time
from dataclasses import dataclass, field

log = logging.getLogger("zero_rl.scoring")


@dataclass
class Scores:
    total_B: list  # weighted sum per completion
    components: dict  # reward name -> list of per-completion scores
    errors: dict = field(default_factory=dict)  # reward name -> count of completions whose reward raised
    timeouts: dict = field(default_factory=dict)  # reward name -> count of completions whose reward timed out
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
    outcome = [name for name in rewards if name not in steps]
    total_B = [sum(rewards[name][1] * components[name][i] for name in outcome) for i in range(len(completions))]
    return Scores(total_B=total_B, components=components, errors=errors, timeouts=timeouts, steps=steps)


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
# queue (a finished but unsent result is recomputed, never guessed). Chunks shrink as the queue empties so both
# workers finish together. Spawn, not fork: forking a parent that holds torch/OpenMP threads can deadlock.

_STARTUP_S = 120.0  # a fresh worker imports sympy and the reward modules before it says it is ready
_FLUSH_S = 0.02  # a worker sends the results it holds at least this often (and at the end of each chunk)
_POLL_S = 0.05  # the parent looks at the running units' start times at least this often


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
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        except Exception as error:  # a reward or example that does not unpickle here (e.g. its module fails)
            conn.send(("chunk_error", f"could not receive the rewards: {type(error).__name__}: {error}"[:500]))
            continue
        if message is None:
            return
        rewards, units = message  # rewards: {name: fn}; units: [(name, completion, example), ...]
        results, flushed = [], time.monotonic()
        for position, (name, completion, example) in enumerate(units):
            with running.get_lock():  # the parent reads both together to find the unit past its deadline
                running[0], running[1] = position, time.monotonic()
            results.append(_run_unit(rewards[name], completion, example))
            if time.monotonic() - flushed >= _FLUSH_S or position == len(units) - 1:
                conn.send(("results", results))
                results, flushed = [], time.monotonic()


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


class _Worker:
    def __init__(self, context, preload):
        parent_conn, child_conn = context.Pipe()
        self.running = context.Array("d", [-1.0, 0.0])  # [position in the chunk of the unit running, its start]
        self.process = context.Process(target=_worker_main, args=(child_conn, tuple(preload), self.running),
                                       daemon=True)
        self.process.start()
        child_conn.close()
        self.conn = parent_conn
        self.ready = False
        self.started_at = time.monotonic()
        self.units = []  # unit indices of the chunk in flight not yet reported, in chunk order
        self.reported = 0  # units of the chunk in flight already reported
        self.deadline = self.started_at + _STARTUP_S

    def assign(self, units: list, now: float) -> None:
        with self.running.get_lock():
            self.running[0] = -1.0
        self.units, self.reported = units, 0
        self.deadline = now + _STARTUP_S  # until its first unit starts: unpickling may import modules

    def running_unit(self, timeout_s: float) -> tuple:
        """(index into self.units of the unit running now, or None; the deadline of the worker)."""
        with self.running.get_lock():
            position, started = int(self.running[0]), self.running[1]
        if position < self.reported:  # not started on the unreported units yet
            return None, self.deadline
        return position - self.reported, started + timeout_s

    def kill(self):
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class RewardPool:
    """Scores completions in `workers` spawned processes with a wall-clock limit per (reward, completion).

    A reward that raises scores 0 and is counted in Scores.errors; one that passes `timeout_s`, or whose
    worker crashes, scores 0 and is counted in Scores.timeouts / Scores.errors; the worker is killed and
    replaced. Rewards must be picklable (module-level functions or functools.partial of one).
    """

    def __init__(self, workers: int = 2, timeout_s: float = 10.0, preload: tuple = ("math_verify", "zero_rl.rewards.math_answer"),
                 chunk_size: int | None = None):
        if workers < 1:
            raise ValueError(f"RewardPool needs workers >= 1, got {workers} (use score_inline for 0)")
        if timeout_s <= 0:
            raise ValueError(f"RewardPool needs timeout_s > 0, got {timeout_s}")
        import multiprocessing

        self.timeout_s = float(timeout_s)
        self.chunk_size = chunk_size
        self.preload = list(preload)
        self.context = multiprocessing.get_context("spawn")
        self.workers = [_Worker(self.context, self.preload) for _ in range(workers)]
        self.replaced = 0  # workers killed for a timeout or found dead, over the pool's life

    def wait_ready(self) -> float:
        """Block until every worker has started; returns the seconds waited (the pool's start-up cost)."""
        started = time.monotonic()
        for worker in self.workers:
            if not worker.ready:
                self._receive(worker, block=True)
        return time.monotonic() - started

    def _receive(self, worker, block=False):
        """Read one start-up message from a worker; used by wait_ready."""
        try:
            message = worker.conn.recv() if block or worker.conn.poll() else None
        except (EOFError, OSError):
            raise RuntimeError(f"a reward worker died while starting (exit code {worker.process.exitcode})")
        self._startup_message(message)
        if message == ("ready",):
            worker.ready = True

    @staticmethod
    def _startup_message(message):
        if message and message[0] == "startup_error":
            raise RuntimeError(f"reward worker could not start: {message[1]}")

    def _replace(self, index: int) -> None:
        self.workers[index].kill()
        self.workers[index] = _Worker(self.context, self.preload)
        self.replaced += 1

    def score(self, rewards: dict, completions: list, examples: list) -> Scores:
        """Like score_inline: rewards is {name: (fn, weight)}; examples[i] belongs to completions[i]."""
        from multiprocessing.connection import wait

        if len(completions) != len(examples):
            raise ValueError(f"{len(completions)} completions but {len(examples)} examples")
        names = list(rewards)
        for module in {getattr(fn, "func", fn).__module__ for fn, _ in rewards.values()}:
            if module not in self.preload and module != "__main__":
                self.preload.append(module)  # replacement workers import it before they say ready
        functions = {name: fn for name, (fn, _weight) in rewards.items()}
        for name, fn in functions.items():
            try:
                pickle.dumps(fn)
            except Exception as error:
                raise ValueError(f"reward {name!r} cannot be sent to a worker process ({error}); use a module-level "
                                 "function or a functools.partial of one") from error
        units = [(name, i) for i in range(len(completions)) for name in names]
        results = [None] * len(units)
        errors, timeouts = {}, {}
        pending = list(range(len(units)))
        pending.reverse()  # pop() from the end takes units in order

        def settle(unit, status, value, worker_index):
            name, item = units[unit]
            if status == "ok":
                results[unit] = value
                return
            results[unit] = 0.0
            counter = timeouts if status == "timeout" else errors
            counter[name] = counter.get(name, 0) + 1
            log.warning("reward %r %s on completion %d (example id %r), worker %d: %s; scored 0", name,
                        "timed out" if status == "timeout" else "failed", item, examples[item].get("id"),
                        worker_index, value)

        def give_back(worker, index, status, message):
            """The worker is dead or killed: its running unit scores `status`; the rest of its chunk is requeued."""
            running, _ = worker.running_unit(self.timeout_s)
            if running is not None and running < len(worker.units):
                settle(worker.units.pop(running), status, message, index)
            pending.extend(reversed(worker.units))
            worker.units = []
            return 1 if running is not None else 0

        remaining = len(units)
        while remaining:
            now = time.monotonic()
            for index, worker in enumerate(self.workers):
                if worker.ready and not worker.units and pending:
                    chunk = self.chunk_size or max(1, min(64, len(pending) // (2 * len(self.workers))))
                    take = [pending.pop() for _ in range(min(chunk, len(pending)))]
                    payload = [(units[u][0], completions[units[u][1]], examples[units[u][1]]) for u in take]
                    used = {name for name, _, _ in payload}
                    worker.assign(take, now)
                    try:
                        worker.conn.send(({n: functions[n] for n in used}, payload))
                    except (OSError, EOFError):  # it died while idle: requeue, replace, try again next round
                        pending.extend(reversed(take))
                        worker.units = []
                        self._replace(index)
                        continue
            busy = [w for w in self.workers if not w.ready or w.units]
            deadline = min(w.running_unit(self.timeout_s)[1] if w.units else w.deadline for w in busy)
            ready = wait([w.conn for w in busy], timeout=max(0.0, min(_POLL_S, deadline - time.monotonic())))
            for index, worker in enumerate(self.workers):
                if worker.conn not in ready:
                    continue
                try:
                    while worker.conn.poll():
                        message = worker.conn.recv()
                        self._startup_message(message)
                        if message == ("ready",):
                            worker.ready = True
                        elif message[0] == "chunk_error":  # every unit of the chunk fails the same way
                            while worker.units:
                                settle(worker.units.pop(0), "error", message[1], index)
                                remaining -= 1
                        else:  # ("results", [(status, value), ...]) for the next units of the chunk, in order
                            for status, value in message[1]:
                                settle(worker.units.pop(0), status, value, index)
                                worker.reported += 1
                                remaining -= 1
                except (EOFError, OSError):  # the worker died: its running unit is an error, the rest go back
                    worker.process.join(timeout=1)
                    code = worker.process.exitcode
                    if not worker.ready:
                        raise RuntimeError(f"a reward worker died while starting (exit code {code})")
                    remaining -= give_back(worker, index, "error", f"worker process died (exit code {code})")
                    self._replace(index)
            now = time.monotonic()
            for index, worker in enumerate(self.workers):
                if worker.units:
                    running, deadline = worker.running_unit(self.timeout_s)
                    if now >= deadline:
                        if running is None:
                            log.warning("reward worker %d did not start its chunk within %g s; replacing it",
                                        index, _STARTUP_S)
                        remaining -= give_back(worker, index, "timeout", f"no result after {self.timeout_s:g} s")
                        self._replace(index)
                elif not worker.ready and now >= worker.deadline:
                    log.warning("reward worker %d did not start within %g s; replacing it", index, _STARTUP_S)
                    self._replace(index)

        components = {name: [0.0] * len(completions) for name in names}
        for (name, item), value in zip(units, results):
            components[name][item] = value
        return finish_scores(rewards, components, completions, errors, timeouts)

    def close(self) -> None:
        """Stop the workers. They hold nothing to flush, and a clean interpreter exit after sympy can take
        seconds, so they are killed rather than asked."""
        for worker in self.workers:
            worker.kill()
        self.workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def score(rewards: dict, completions: list, examples: list, workers: int = 0, timeout_s: float = 10.0) -> Scores:
    """One-off scoring: inline for workers=0, else in a temporary RewardPool (pays its start-up each call;
    a training loop should keep one RewardPool open instead)."""
    if workers == 0:
        return score_inline(rewards, completions, examples)
    with RewardPool(workers=workers, timeout_s=timeout_s) as pool:
        return pool.score(rewards, completions, examples)
