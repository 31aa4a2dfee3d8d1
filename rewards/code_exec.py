"""Execution reward for model-written Python: run the program and the task's tests in a sandboxed child process.

`code_reward(completion, example)` is a plain reward: it extracts the code, runs it with `run_tests` and
returns 1.0/0.0 (all tests pass) or the pass fraction. It is pure from the caller's side (the child does the
work), picklable via functools.partial, and returns within `timeout_s` + about 0.1 s, so it works inline and in
a process-pool worker alike.

A pass means the tests ran to completion. The harness (rewards/sandbox_harness.py) writes
`<nonce> ...` to a pipe only after the last test, then `os._exit(0)`; the parent requires that line with the
random per-run nonce (sent on stdin, never on the command line or in the environment) AND exit status 0. So
`sys.exit(0)`/`os._exit(0)` before the asserts, a crash, a kill, printing a fake report or closing/dup'ing the
pipe all score 0. The `assert` statement raises the real AssertionError whatever the program rebinds, every test
runs in a fresh scope whose builtins were copied before the program ran, and modules the program replaced in
sys.modules are put back before the tests.

What contains what (Linux; measured as root and described for non-root):
- Time: wall-clock timeout in the parent (then SIGKILL to the whole process group) and RLIMIT_CPU.
- Memory: RLIMIT_AS. Output: stdout/stderr go to files capped by RLIMIT_FSIZE (the writer gets SIGXFSZ), and
  only `output_bytes` of each are read back. Files: RLIMIT_FSIZE per file; the work dir is a fresh temp dir
  (removed after) with, where mount namespaces are available (root, or unprivileged user namespaces), a private
  tmpfs over it capped in size and inodes that vanishes with the child (`ExecResult.workdir`), so a million
  small files cannot fill the disk or slow the cleanup past the timeout.
- Network: a new network namespace (unshare(CLONE_NEWNET) as root; CLONE_NEWUSER|CLONE_NEWNET otherwise, when
  unprivileged user namespaces are enabled) has no reachable interface, even for native code. `ExecResult.network`
  says whether it was applied. Always, an audit hook refuses socket creation/connect and importing socket.
- Processes: a seccomp-BPF filter (x86-64) makes fork, vfork, clone without CLONE_THREAD and execve fail with
  EPERM in the kernel, so no process can be created even from native code; threads still work.
  `ExecResult.processes` says whether it was installed. On top, an audit hook refuses os.fork/system/exec*,
  subprocess, multiprocessing and ctypes, and RLIMIT_NPROC is set; RLIMIT_NPROC alone would not do: root is
  exempt (measured here, also inside a fresh user namespace), and for other users it counts all their processes.
- Parent and other processes: the child runs in its own session; os.kill/killpg/pthread_kill are refused.
- Files: writes, deletes, renames, chmod, links outside the work dir are refused; reads are limited to the
  interpreter's tree, the work dir and a few device files (so /proc/<parent>/environ, /proc/self/mem and the
  user's files cannot be read). Environment: the child gets PATH, LANG and HOME only; `python -I -S` ignores
  PYTHON* variables, the user site and site-packages.
- Reaching the harness's nonce: the audit hook refuses frame introspection (sys._getframe raises ValueError,
  which typing and namedtuple already tolerate; sys._current_frames, settrace/setprofile, tb_frame/gi_frame via
  object.__getattr__, gc.get_objects/referrers), code.__new__/function.__new__, ctypes and mmap; installing
  signal handlers (which receive the interrupted frame) is disabled. marshal.loads stays allowed (imports of
  .pyc files need it), so hand-made bytecode is one remaining route.
Not covered: apart from the network namespace, the seccomp filter, the RLIMITs and the process-group kill, these
are Python-level guards in the same interpreter; native code reached by some other route, or a CPython bug,
could bypass them (e.g. read the nonce, or write files outside the work dir; it still could not fork or reach
the network). cgroups (pids.max) were not writable here, so there is no per-sandbox memory/pid cgroup.
The process runs as the caller's uid (as root here: dropping to another uid would lose read access to the
interpreter under /root). An object whose `__eq__` always returns True, or a program that patches a library
module the tests call (e.g. math.isclose), is not detected: that is a reward hack to look for in samples.
"""

import ast
import logging
import marshal
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rewards.format import answer_body

log = logging.getLogger("zero_rl.rewards.code_exec")

HARNESS = (Path(__file__).with_name("sandbox_harness.py")).read_text()
_RESULT_CAP = 1 << 16

STATS = Counter()
"""Per-process counts of sandbox outcomes (passed, failed, timeout, crashed); read with sandbox_stats()."""
_STATS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0
    """Wall-clock limit for the whole child, then SIGKILL to its process group (MBPP task 123 needs ~5 s)."""
    memory_mb: int = 1024
    """RLIMIT_AS of the child."""
    file_mb: int = 16
    """RLIMIT_FSIZE: largest file the child may write, stdout/stderr included."""
    processes: int = 8
    """RLIMIT_NPROC (enforced for non-root users only, see the module docstring)."""
    open_files: int = 64
    inodes: int = 4096
    """Most files and directories the program may create (when the work dir is a private tmpfs)."""
    output_bytes: int = 4096
    """How much of stdout and stderr is read back into ExecResult."""
    network_namespace: bool = True
    """Run in a fresh network namespace where the OS allows it."""

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
    error: str  # first failure, as reported by the harness; or why there was no report
    stdout: str
    stderr: str
    network: str  # "namespace" when the child ran in its own network namespace, else "none"
    processes: str  # "seccomp" when the kernel refused fork/exec to the child, else "none"
    workdir: str  # "tmpfs" (private, capped, gone with the child) or "disk" (a temp dir removed afterwards)
    seconds: float

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total and self.status in ("passed", "failed") else 0.0


def _read_head(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks, size = [], 0
    while size < _RESULT_CAP:
        try:
            chunk = os.read(fd, _RESULT_CAP - size)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _parse_report(data: bytes, nonce: str):
    """(network, processes, workdir, ran, passed, total, error) from the harness's line; None without a genuine one."""
    prefix = nonce.encode() + b" "
    lines = [line for line in data.split(b"\n") if line.startswith(prefix)]
    if len(lines) != 1:
        return None
    try:
        network, processes, workdir, ran, passed, total, error = lines[0][len(prefix):].decode().split(" ", 6)
        return network, processes, workdir, int(ran), int(passed), int(total), ast.literal_eval(error)
    except (ValueError, SyntaxError):
        return None


def _wait_exit(process: subprocess.Popen, timeout_s: float) -> bool:
    """True if the process exited within timeout_s. A pidfd wakes exactly at exit; Popen.wait(timeout) polls
    with sleeps growing to 50 ms, which is most of a short program's cost."""
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


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # start_new_session: pgid == pid
    except (ProcessLookupError, PermissionError):
        pass
    process.kill()  # no-op once reaped; covers a child that left its group
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


def run_tests(program: str, tests: list, setup: str = "", limits: SandboxLimits = SandboxLimits()) -> ExecResult:
    """Run `program`, then `setup`, then each test (a statement string, usually an assert) in a sandboxed child."""
    start = time.monotonic()
    nonce = secrets.token_hex(16)
    if not _swept:
        sweep_stale_dirs()
    base = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}_")
    workdir = os.path.join(base, "work")
    os.mkdir(workdir, 0o700)
    stdout_path, stderr_path = os.path.join(base, "stdout"), os.path.join(base, "stderr")
    read_fd, write_fd = os.pipe()
    config = {
        "nonce": nonce, "result_fd": write_fd, "parent_pid": os.getpid(),
        "program": program, "setup": setup, "tests": list(tests),
        "network_namespace": limits.network_namespace,
        "limits": {"memory_bytes": limits.memory_mb << 20, "cpu_seconds": int(limits.timeout_s) + 1,
                   "file_bytes": limits.file_mb << 20, "processes": limits.processes,
                   "open_files": limits.open_files, "inodes": limits.inodes},
    }
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir}
    timed_out, process = False, None
    try:
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            process = subprocess.Popen([sys.executable, "-I", "-S", "-c", HARNESS], stdin=subprocess.PIPE,
                                       stdout=out, stderr=err, cwd=workdir, env=env, start_new_session=True,
                                       pass_fds=(write_fd,))
        os.close(write_fd)
        write_fd = None
        try:
            process.stdin.write(marshal.dumps(config))
            process.stdin.close()
        except BrokenPipeError:
            pass
        timed_out = not _wait_exit(process, max(limits.timeout_s - (time.monotonic() - start), 0.01))
    finally:
        if write_fd is not None:
            os.close(write_fd)
        if process is not None:
            _kill_group(process)
        report = _drain(read_fd)
        os.close(read_fd)
        stdout = _read_head(stdout_path, limits.output_bytes)
        stderr = _read_head(stderr_path, limits.output_bytes)
        shutil.rmtree(base, ignore_errors=True)
    returncode = process.returncode
    parsed = None if timed_out else _parse_report(report, nonce)
    seconds = time.monotonic() - start
    if timed_out:
        return ExecResult("timeout", 0, len(tests), 0, returncode, f"timed out after {limits.timeout_s:g} s",
                          stdout, stderr, "unknown", "unknown", "unknown", seconds)
    if parsed is None or returncode != 0:
        why = f"no report from the harness (exit status {returncode})"
        return ExecResult("crashed", 0, len(tests), 0, returncode, why, stdout, stderr, "unknown", "unknown",
                          "unknown", seconds)
    network, processes, workdir_kind, ran, passed, total, error = parsed
    status = "passed" if ran == total == passed == len(tests) else "failed"
    return ExecResult(status, passed, total, ran, returncode, error, stdout, stderr, network, processes,
                      workdir_kind, seconds)


def run_many(jobs: list, limits: SandboxLimits = SandboxLimits(), workers: int = 4) -> list:
    """run_tests over (program, tests, setup) triples, `workers` children at a time; results in input order.

    Threads are enough: each waits on its own child process.
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: run_tests(job[0], job[1], job[2], limits), jobs))


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


def reset_sandbox_stats() -> None:
    with _STATS_LOCK:
        STATS.clear()


def code_reward(completion: str, example: dict, score: str = "all", source: str = "answer_fence",
                timeout_s: float = 10.0, memory_mb: int = 1024) -> float:
    """1.0 if every test in example["tests"] passes (score="all") or the fraction passed (score="fraction").

    No extractable code scores 0 (a format failure, not an error). Timeouts and crashes of the program score 0
    (also under "fraction": the harness reports only after the last test), are counted in sandbox_stats() and
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
    result = run_tests(assemble_program(code, example), tests, example.get("setup", ""),
                       SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb))
    _count(result.status)
    if result.status in ("timeout", "crashed"):
        log.info("code_exec: example %r %s (%s)", example.get("id"), result.status, result.error)
    if score == "all":
        return 1.0 if result.status == "passed" else 0.0
    return result.fraction
