"""Progress for logs that are not a terminal (CI, nohup, Slurm): plain lines with done/total, rate and ETA.

A live bar (rich) redraws one line in a terminal; in a file it shows nothing until the end. `PlainProgress`
prints a line whenever it is told to and, while nothing else was printed, one every `interval_s` seconds from a
background thread, so a log never goes quiet for longer than that, even inside one long step.
"""

import sys
import threading
import time

HEARTBEAT_S = 30.0
"""At most this long between two progress lines in a non-terminal log."""


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def duration(seconds: float) -> str:
    """12 s, 4m05s, 2h03m."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(label: str, done: int, total: int, made: int, made_s: float, elapsed_s: float,
                  unit: str = "step", status: str = "") -> str:
    """'GRPO step 12/60 (20%), 2 s/step, ETA 1m36s, elapsed 24 s | status': the rate is `made` units in `made_s`
    seconds (what this process did: a resumed run does not count the steps it resumed from)."""
    line = f"{label} {unit} {done}/{total} ({100 * done / max(total, 1):.0f}%)"
    if made > 0 and made_s > 0:
        rate = made / made_s
        line += (f", {rate:.3g} {unit}/s" if rate >= 1 else f", {made_s / made:.3g} s/{unit}")
        line += f", ETA {duration((total - done) / rate)}"
    else:
        line += f", rate -, ETA -"
    line += f", elapsed {duration(elapsed_s)}"
    return line + (f" | {status}" if status else "")


class PlainProgress:
    """update(done, status) prints a progress line; a heartbeat thread prints one more when `interval_s` passed
    with no line (the status then says which unit is under way). close() stops the thread."""

    def __init__(self, label: str, total: int, done: int = 0, unit: str = "step", interval_s: float = HEARTBEAT_S,
                 print_fn=None, clock=time.monotonic):
        self.label, self.total, self.unit = label, total, unit
        self.done = self.started_done = done
        self.status = ""
        self.first = None  # (time, done) of the first update that made progress
        self.interval_s = interval_s
        self.print_fn = print_fn or (lambda line: print(line, flush=True))
        self.clock = clock
        self.started = self.last_line = clock()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._heartbeat, name=f"progress-{label}", daemon=True)
        self.thread.start()

    def line(self, status: str | None = None) -> str:
        """The rate is measured from the first update on once there are two (the time before the first unit,
        e.g. loading and a first evaluation, is not a unit's); from the start until then."""
        now = self.clock()
        if self.first is not None and self.done > self.first[1]:
            made, made_s = self.done - self.first[1], now - self.first[0]
        else:
            made, made_s = self.done - self.started_done, now - self.started
        return progress_line(self.label, self.done, self.total, made, made_s, now - self.started, self.unit,
                             self.status if status is None else status)

    def _emit(self, line: str) -> None:
        with self.lock:
            self.last_line = self.clock()
            self.print_fn(line)

    def update(self, done: int, status: str = "", quiet: bool = False) -> None:
        """Record progress; print a line unless `quiet` (then only the heartbeat reports it)."""
        if self.first is None and done > self.started_done:
            self.first = (self.clock(), done)
        self.done, self.status = done, status
        if not quiet:
            self._emit(self.line())

    def _heartbeat(self) -> None:
        while not self.stopped.wait(min(self.interval_s, 1.0)):
            if self.clock() - self.last_line >= self.interval_s:
                working = f"working on {self.unit} {self.done + 1}" if self.done < self.total else "finishing"
                self._emit(self.line(f"{working}; last: {self.status}" if self.status else working))

    def close(self) -> None:
        self.stopped.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
