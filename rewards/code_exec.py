"""Execution reward for model-written Python: run the program and the task's tests in a sandboxed child process.

`code_reward(completion, example)` is a plain reward: it extracts the code, runs it with `run_tests` and
returns 1.0/0.0 (all tests pass) or the pass fraction. It is pure from the caller's side (the child does the
work), picklable via functools.partial, and returns within `timeout_s` + about 0.1 s, so it works inline and in
a process-pool worker alike.

Where the verdict is made. Each test is cut with `ast` (rewards/test_split.py): for `assert f(x) == EXPECTED`,
`math.isclose(f(x), ...)`, `set(f(x)) == {...}`, `assert f(x)`, `f(x) is True`, HumanEval's
`def check(candidate)` bodies and the like, the child only evaluates `f(x)` and sends the value back as plain
data (JSON of None/bool/int/float/complex/str/bytes and lists, tuples, sets, dicts of them); this process
compares it with EXPECTED (rewards/verdict.py), which never enters the child. So a program that takes over its
own interpreter (a signal handler that walks frames, gc, writing to the result pipe, os._exit) can only claim
values, and it does not know the passing ones. Tests that cannot be cut (random inputs, try/except, ...) run
in the child the old way; they are counted (`sandbox_counters()["in_process_tests"]`, `ExecResult.in_process`)
because a program can forge their verdict. Measured share: MBPP 0 of 2,922 tests, HumanEval 4 of 164 (32, 38,
50, 53: random inputs; loops over constants, as in 44, are unrolled). Tests shown in the prompt (MBPP shows the
first by default; HumanEval's docstring examples) carry no secret: a program can always special-case them, as
it could return a constant; the unseen tests are what keep the reward honest, so keep some unseen
(score="all" needs every test).

What contains what (Linux, x86-64; root and ordinary users alike, given unprivileged user namespaces):
- One unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET), as root too: the child has
  privileges only inside its own user namespace (and drops every capability before the program runs), it is
  PID 1 of a new PID namespace with a private /proc (it cannot name, signal or read any other process, parent
  included), and its network namespace has no interface. Doing it in one call is what lets non-root keep the
  tmpfs (a second CLONE_NEWUSER fails with EPERM).
- Files: every mount is made read-only (mount_setattr AT_RECURSIVE), then a tmpfs capped in size and inodes is
  mounted over the work dir and vanishes with the child, so a flood of small files stops at `inodes` and cannot
  delay the return. Per-file size: RLIMIT_FSIZE (stdout/stderr files included; only `output_bytes` are read
  back).
- Processes and signals: a seccomp-BPF filter (rewards/sandbox_harness.py lists every rule) makes fork, vfork,
  clone without CLONE_THREAD and execve(at) fail (threads still work), and refuses: setsid/setpgid (the process
  group is what gets killed); kill/tgkill/rt_sigqueueinfo to anyone but itself, tkill, the pidfd calls, ptrace,
  process_vm_*; prlimit and sched_* on other pids, setpriority; mount and namespace calls; memfd_create, bpf,
  io_uring; other architectures' syscall tables (int 0x80). It is inherited and cannot be removed, so native
  code (ctypes) is bound too: importing subprocess, socket or ctypes works, using them to escape does not.
- Time: a wall-clock timeout here, then SIGTERM to the launcher, which SIGKILLs and reaps the sandboxed process
  before exiting (so nothing is left when run_tests returns), then SIGKILL to the process group; RLIMIT_CPU.
  Memory: RLIMIT_AS (the tmpfs is capped; memfd is refused). Environment: PATH, LANG, HOME and TMPDIR (the work
  dir) only; `python -I -S -B`, with the harness compiled once here and sent as a code object.
- Where the namespaces cannot be had (a container whose seccomp profile refuses unshare; tested with
  SandboxLimits(namespaces=False)), an audit hook adds Python-level guards: no writes outside the work dir, no
  /proc/<other pid>, no ctypes, no devices but null/zero/full/random/urandom.
`ExecResult.layers` says which layers were applied; one that could not be is logged once per process and
counted (`sandbox_counters()["missing_layer/<name>"]`), never silently skipped.

Why hand-made namespace and seccomp code rather than a tool (evaluated on Debian 12, kernel 6.x):
- bubblewrap 0.8 (Debian package): does the namespaces well, but costs an extra exec per run (20 runs of
  `python -c pass`: 0.20 s alone, 0.44 s under `bwrap --unshare-all ...`; util-linux `unshare --fork --pid
  --net ...`: 0.70 s against 0.31 s; the setup here takes a few ms inside the child),
  its tmpfs has no inode cap (a file flood would again fill memory and slow the teardown), it still needs a
  compiled seccomp program from us (`--seccomp FD`), and pip users may not have the package.
- libseccomp Python bindings: not on PyPI as a maintained package (Debian's python3-seccomp is built for the
  system interpreter only; our interpreters come from pyenv/venvs). libseccomp would buy other architectures;
  the filter here is x86-64 (elsewhere `layers["seccomp"]` is False and counted).
- rewards/sandbox_harness.py does it in ~170 lines of ctypes over documented kernel interfaces, in the child
  itself; the tests probe the filter alone and check the layer report as root and as an ordinary user.
Not covered: a kernel bug; /sys and the read-only host files are readable (as the caller's uid, read-only; an
audit hook does not guard reads any more). Run the trainer as an unprivileged user to limit what the child
can read. cgroups (pids.max, memory.max) are not used (not writable in the containers measured).
"""

import json
import logging
import marshal
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from zero_rl.rewards.format import answer_body
from zero_rl.rewards.test_split import own_builtins, plan_test
from zero_rl.rewards.verdict import judge_split

log = logging.getLogger("zero_rl.rewards.code_exec")

HARNESS = (Path(__file__).with_name("sandbox_harness.py")).read_text()
_HARNESS_CODE = marshal.dumps(compile(HARNESS, "rewards/sandbox_harness.py", "exec"))
"""Compiled once here and sent on stdin: compiling the harness's source in every child cost more than a tenth
of a short run. marshal's format is the interpreter's own; the child runs the same sys.executable."""
_BOOTSTRAP = ("# zero-rl sandbox harness (rewards/sandbox_harness.py)\n"
              "import marshal, sys\nexec(marshal.load(sys.stdin.buffer))\n")
_RESULT_CAP = 8 << 20
"""Most bytes of values read back from one run; a run that sends more fails."""

STATS = Counter()
"""Per-process counts of sandbox outcomes (passed, failed, timeout, crashed); read with sandbox_stats()."""
COUNTERS = Counter()
"""Per-process counts of in-process tests and missing layers; read with sandbox_counters()."""
_STATS_LOCK = threading.Lock()
_WARNED = set()
EXPECTED_LAYERS = ("user", "mount", "pid", "network", "readonly", "tmpfs", "proc", "capabilities_dropped",
                   "seccomp")


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0
    """Wall-clock limit for the whole child, then SIGKILL to its process group (MBPP task 123 needs ~5 s)."""
    memory_mb: int = 1024
    """RLIMIT_AS of the child."""
    file_mb: int = 16
    """RLIMIT_FSIZE: largest file the child may write, stdout/stderr included."""
    processes: int = 8
    """RLIMIT_NPROC (the seccomp filter refuses new processes anyway)."""
    open_files: int = 64
    inodes: int = 4096
    """Most files and directories the program may create (the work dir is a private tmpfs)."""
    output_bytes: int = 4096
    """How much of stdout and stderr is read back into ExecResult."""
    network_namespace: bool = True
    """Run in a fresh network namespace."""
    namespaces: bool = True
    """Enter the user/mount/PID/network namespaces. False only to test the fallback guards of machines without
    them (e.g. a container whose seccomp profile refuses unshare): the missing layers are then counted."""

    def __post_init__(self):
        if self.timeout_s <= 0 or self.memory_mb < 64 or self.file_mb < 1 or self.processes < 1:
            raise ValueError(f"sandbox limits out of range: {self}")


@dataclass
class ExecResult:
    status: str  # "passed" | "failed" | "timeout" | "crashed"
    passed: int
    total: int
    ran: int
    returncode: int | None
    error: str  # first failure; or why there was no result
    stdout: str
    stderr: str
    network: str  # "namespace" when the child ran in its own network namespace, else "none"
    processes: str  # "seccomp" when the kernel refused fork/exec and foreign signals to the child, else "none"
    workdir: str  # "tmpfs" (private, capped, gone with the child) or "disk" (a temp dir removed afterwards)
    seconds: float
    layers: dict = field(default_factory=dict)
    """What the child reported before the program ran: user/mount/pid/network namespaces, readonly, tmpfs,
    proc ("private" | "hidden" | "host"), capabilities_dropped, seccomp."""
    in_process: int = 0
    """How many of the tests ran the old way, with their verdict inside the child (see the module docstring)."""

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total and self.status in ("passed", "failed") else 0.0


def _read_head(path: str, limit: int) -> str:
    """The first `limit` bytes of a regular file (non-blocking open: where the child could write there, it could
    have put a FIFO in its place)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return os.read(fd, limit).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _read_available(fd: int, chunks: list, size: int) -> tuple:
    """Read what the pipe holds now; (new size, eof)."""
    while size <= _RESULT_CAP:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return size, False
        if not chunk:
            return size, True
        chunks.append(chunk)
        size += len(chunk)
    return size, False


def _wait_and_collect(process: subprocess.Popen, read_fd: int, timeout_s: float) -> tuple:
    """Wait for the child while reading its result pipe (a child that sends much must not block on a full pipe).
    (exited in time, result bytes, too_large)."""
    os.set_blocking(read_fd, False)
    deadline = time.monotonic() + timeout_s
    chunks, size, eof = [], 0, False
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        pidfd = None
    poller = select.poll()
    poller.register(read_fd, select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, b"".join(chunks), size > _RESULT_CAP
            # Without a pidfd, wake every 10 ms to poll the exit status.
            events = dict(poller.poll(left * 1000 if pidfd is not None else min(left, 0.01) * 1000))
            if read_fd in events and not eof:
                size, eof = _read_available(read_fd, chunks, size)
                if eof:
                    poller.unregister(read_fd)
                if size > _RESULT_CAP:
                    return True, b"".join(chunks), True
            exited = (pidfd is not None and pidfd in events) or (pidfd is None and process.poll() is not None)
            if exited:
                size, _ = _read_available(read_fd, chunks, size)
                return True, b"".join(chunks), size > _RESULT_CAP
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _exited_within(process: subprocess.Popen, timeout_s: float) -> bool:
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        try:
            process.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(timeout_s * 1000))
    finally:
        os.close(pidfd)


def _stop(process: subprocess.Popen) -> None:
    """End a run so that none of its processes is left when this returns. SIGTERM asks the launcher to SIGKILL
    the sandboxed fork and reap it, then exit (a SIGKILL to the group alone returns before a big fork has died);
    then SIGKILL to the whole group in case the launcher could not."""
    if process.poll() is None:
        try:
            os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _exited_within(process, 0.3)
    try:
        os.killpg(process.pid, signal.SIGKILL)  # start_new_session: pgid == pid; the sandbox fork is in it too
    except (ProcessLookupError, PermissionError):
        pass
    process.kill()  # no-op once reaped
    process.wait()


_DIR_PREFIX = "zero_rl_sandbox_"
_swept = False


def sweep_stale_dirs() -> int:
    """Remove sandbox dirs left by processes that died mid-run (a pool worker killed by SIGKILL cannot clean up);
    a dir is named after the pid that made it. Runs once per process on the first run_tests. Returns how many."""
    global _swept
    _swept = True
    removed = 0
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        if not name.startswith(_DIR_PREFIX):
            continue
        owner = name[len(_DIR_PREFIX):].split("_", 1)[0]
        if not owner.isdigit() or os.path.exists(f"/proc/{owner}"):
            continue
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        removed += 1
    return removed


def _missing_layers(layers: dict, limits: SandboxLimits) -> list:
    expected = [name for name in EXPECTED_LAYERS if name != "network" or limits.network_namespace]
    if not limits.namespaces:
        expected = [name for name in expected if name in ("capabilities_dropped", "seccomp")]
    return [name for name in expected if layers.get(name) not in (True, "private")]


def _note_missing(missing: list) -> None:
    with _STATS_LOCK:
        for name in missing:
            COUNTERS[f"missing_layer/{name}"] += 1
            fresh = name not in _WARNED
            _WARNED.add(name)
            if fresh:
                log.warning("code sandbox: layer %r could not be applied on this machine (counted in "
                            "sandbox_counters()['missing_layer/%s']); see rewards/code_exec.py", name, name)


def _parse_lines(data: bytes):
    """(layers, program_error, {test index: [results]}, done) from the child's lines; layers is None unless the
    first line is the harness's layer report."""
    layers, program_error, results, done = None, "", {}, False
    for number, raw in enumerate(data.split(b"\n")):
        if not raw:
            continue
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            continue  # a line the program garbled: the test it belonged to gets no result
        if number == 0:
            if isinstance(line, list) and len(line) == 2 and line[0] == "layers" and isinstance(line[1], dict):
                layers = line[1]
            continue
        if not isinstance(line, list) or not line:
            continue
        if line == ["done"]:
            done = True
        elif line[0] == "program_error" and len(line) == 2:
            program_error = program_error or str(line[1])
        elif isinstance(line[0], int) and not isinstance(line[0], bool):
            results.setdefault(line[0], []).append(line[1:])
    return layers, program_error, results, done


def _remove(base: str, workdir: str) -> None:
    """Remove the run's dir. The work dir on disk is empty when the child had its tmpfs; otherwise (no mount
    namespace) it may hold as many files as the program made in its time, so remove it off the caller's clock."""
    with os.scandir(workdir) as entries:
        empty = next(entries, None) is None
    if empty:
        shutil.rmtree(base, ignore_errors=True)
    else:
        threading.Thread(target=shutil.rmtree, args=(base, True), daemon=True).start()


def run_tests(program: str, tests: list, setup: str = "", limits: SandboxLimits = SandboxLimits(),
              reference: str | None = None) -> ExecResult:
    """Run `program`, then `setup`, then each test (a statement string, usually an assert) in a sandboxed child.

    `reference`: the task's reference solution; builtin names it defines at module level (MBPP 126 defines
    `sum`) are the program's in the tests, every other builtin name resolves to the pristine builtin. None: all
    builtin names are pristine.
    """
    start = time.monotonic()
    if not _swept:
        sweep_stale_dirs()
    own = own_builtins(reference) if reference else frozenset()
    plans = [plan_test(test, own) for test in tests]
    child_tests = [("in_process", p.source) if p.in_process else
                   ("split", p.split.child_preamble, p.split.candidate, [list(u.shipped) for u in p.split.units])
                   for p in plans]
    in_process = sum(p.in_process for p in plans)
    base = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}_")
    workdir = os.path.join(base, "work")
    os.mkdir(workdir, 0o700)
    stdout_path, stderr_path = os.path.join(base, "stdout"), os.path.join(base, "stderr")
    read_fd, write_fd = os.pipe()
    config = {
        "result_fd": write_fd, "parent_pid": os.getpid(), "program": program, "setup": setup,
        "tests": child_tests, "own_builtins": sorted(own), "network_namespace": limits.network_namespace,
        "namespaces": limits.namespaces,
        "limits": {"memory_bytes": limits.memory_mb << 20, "cpu_seconds": int(limits.timeout_s) + 1,
                   "file_bytes": limits.file_mb << 20, "processes": limits.processes,
                   "open_files": limits.open_files, "inodes": limits.inodes},
    }
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
    timed_out, too_large, process, data = False, False, None, b""
    try:
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            process = subprocess.Popen([sys.executable, "-I", "-S", "-B", "-c", _BOOTSTRAP], stdin=subprocess.PIPE,
                                       stdout=out, stderr=err, cwd=workdir, env=env, start_new_session=True,
                                       pass_fds=(write_fd,))
        os.close(write_fd)
        write_fd = None
        try:
            process.stdin.write(_HARNESS_CODE + marshal.dumps(config))
            process.stdin.close()
        except BrokenPipeError:
            pass
        exited, data, too_large = _wait_and_collect(process, read_fd,
                                                    max(limits.timeout_s - (time.monotonic() - start), 0.01))
        timed_out = not exited
    finally:
        if write_fd is not None:
            os.close(write_fd)
        if process is not None:
            _stop(process)
        os.close(read_fd)
        stdout = _read_head(stdout_path, limits.output_bytes)
        stderr = _read_head(stderr_path, limits.output_bytes)
        _remove(base, workdir)
    returncode = process.returncode
    seconds = time.monotonic() - start
    layers, program_error, results, done = _parse_lines(data)
    if layers is not None:
        _note_missing(_missing_layers(layers, limits))
    if in_process:
        with _STATS_LOCK:
            COUNTERS["in_process_tests"] += in_process
    layers = layers or {}
    kinds = ("namespace" if layers.get("network") else "none", "seccomp" if layers.get("seccomp") else "none",
             "tmpfs" if layers.get("tmpfs") else "disk")
    if timed_out or too_large:
        why = f"timed out after {limits.timeout_s:g} s" if timed_out else "the sandbox sent too much data"
        return ExecResult("timeout" if timed_out else "crashed", 0, len(tests), 0, returncode, why, stdout, stderr,
                          *kinds, seconds, layers, in_process)
    if not layers or not done or returncode != 0:
        why = f"the program did not run to the end (exit status {returncode})"
        return ExecResult("crashed", 0, len(tests), 0, returncode, why, stdout, stderr, *kinds, seconds, layers,
                          in_process)
    passed, ran, error = 0, 0, program_error
    if not program_error:
        for index, plan in enumerate(plans):
            got = results.get(index, [])
            ran += bool(got)
            if len(got) != 1:  # none, or a second line for the same test: written by the program
                why = "no result" if not got else "more than one result"
            elif plan.in_process:
                why = "" if got[0] == ["ok"] else str(got[0][1:2])[:300]
            else:
                why = judge_split(plan.split, own, got[0][0] if got[0] else None)
            if why:
                error = error or f"test {index}: {why}"
            else:
                passed += 1
    status = "passed" if passed == len(tests) and not program_error else "failed"
    return ExecResult(status, passed, len(tests), ran, returncode, error, stdout, stderr, *kinds, seconds, layers,
                      in_process)


def run_many(jobs: list, limits: SandboxLimits = SandboxLimits(), workers: int = 4) -> list:
    """run_tests over (program, tests, setup[, reference]) tuples, `workers` children at a time; results in input
    order. Threads are enough: each waits on its own child process."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: run_tests(job[0], job[1], job[2], limits,
                                                   job[3] if len(job) > 3 else None), jobs))


# ---- completion -> code ------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def _last_fence(text: str | None) -> str | None:
    if text is None:
        return None
    blocks = _FENCE.findall(text)
    return blocks[-1] if blocks else None


EXTRACTORS = {
    "answer_fence": lambda completion: _last_fence(answer_body(completion)),
    "answer": lambda completion: _last_fence(answer_body(completion)) or answer_body(completion),
    "fence": _last_fence,
    "raw": lambda completion: _last_fence(completion) or completion,
}
"""How the code is found in a completion: the last ```python block inside <answer> (default); inside <answer>
with or without a fence; the last fenced block anywhere; or the whole completion when it has no fence."""


def extract_code(completion: str, source: str = "answer_fence") -> str | None:
    if source not in EXTRACTORS:
        raise ValueError(f"unknown code source {source!r}; valid: {', '.join(EXTRACTORS)}")
    code = EXTRACTORS[source](completion)
    return code if code and code.strip() else None


def assemble_program(code: str, example: dict) -> str:
    """The program to run: `example["code_prefix"]` (e.g. a HumanEval signature + docstring) then the code.

    When the example has an entry point and the code does not define it, the code is a function body: it is
    indented under the prefix's signature if it came unindented.
    """
    prefix = example.get("code_prefix", "")
    entry_point = example.get("entry_point")
    if prefix and entry_point and not re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE):
        lines = code.strip("\n").split("\n")
        if lines and lines[0][:1] not in (" ", "\t"):
            code = "\n".join("    " + line if line.strip() else line for line in lines)
        return prefix.rstrip("\n") + "\n" + code.rstrip() + "\n"
    return (prefix + "\n" + code) if prefix else code


def _count(status: str) -> None:
    with _STATS_LOCK:
        STATS[status] += 1


def sandbox_stats() -> dict:
    """Counts of sandbox outcomes in this process since start (or since reset_sandbox_stats)."""
    with _STATS_LOCK:
        return dict(STATS)


def sandbox_counters() -> dict:
    """Counts of tests run in process (verdict inside the child) and of layers that could not be applied, in this
    process since start (or since reset_sandbox_stats); log them as `sandbox/<name>`."""
    with _STATS_LOCK:
        return dict(COUNTERS)


def reset_sandbox_stats() -> None:
    with _STATS_LOCK:
        STATS.clear()
        COUNTERS.clear()


@lru_cache(maxsize=4096)
def reference_program(example_answer: str, code_prefix: str, entry_point: str | None) -> str:
    return assemble_program(example_answer, {"code_prefix": code_prefix, "entry_point": entry_point})


def code_reward(completion: str, example: dict, score: str = "all", source: str = "answer_fence",
                timeout_s: float = 10.0, memory_mb: int = 1024) -> float:
    """1.0 if every test in example["tests"] passes (score="all") or the fraction passed (score="fraction").

    No extractable code scores 0 (a format failure, not an error). Timeouts and crashes of the program score 0
    (also under "fraction": a run counts only if the child reached its end), are counted in sandbox_stats() and
    logged; only a failure of the sandbox itself raises (counted as a reward error by the scorer). In a process
    pool, give the pool's own per-reward timeout at least timeout_s + 2 s so the sandbox, not the pool, stops a
    slow program (if the pool kills a worker anyway, PR_SET_PDEATHSIG kills its sandbox child with it).
    """
    if score not in ("all", "fraction"):
        raise ValueError(f"unknown score {score!r}; valid: all, fraction")
    tests = example.get("tests")
    if not isinstance(tests, list) or not tests:
        raise ValueError(f"code_reward: example {example.get('id')!r} has no 'tests' list (keys: {sorted(example)})")
    code = extract_code(completion, source)
    if code is None:
        _count("no_code")
        return 0.0
    answer = example.get("answer")
    reference = (reference_program(answer, example.get("code_prefix", ""), example.get("entry_point"))
                 if isinstance(answer, str) and answer.strip() else None)
    result = run_tests(assemble_program(code, example), tests, example.get("setup", ""),
                       SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb), reference)
    _count(result.status)
    if result.status in ("timeout", "crashed"):
        log.info("code_exec: example %r %s (%s)", example.get("id"), result.status, result.error)
    if score == "all":
        return 1.0 if result.status == "passed" else 0.0
    return result.fraction
