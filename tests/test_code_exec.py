"""The code-execution sandbox: honest programs pass, and every escape or cheat in the table is contained and
scores 0. Each row runs a real child process; the whole file takes a few seconds."""

import functools
import os
import signal
import socket
import tempfile
import time
import uuid

import pytest

from rewards.code_exec import (SandboxLimits, assemble_program, code_reward, extract_code, reset_sandbox_stats,
                               run_many, run_tests, sandbox_stats, sweep_stale_dirs)

LIMITS = SandboxLimits(timeout_s=1.0, memory_mb=512)
GOOD = "def add(a, b):\n    return a + b\n"
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(2, 2) == 4"]


def sandbox_processes() -> list:
    """Live sandbox processes that are children of this test process or orphans; sandboxes of other runs on the
    machine are not ours to count."""
    return [pid for pid in all_sandbox_processes() if parent_of(pid) in (os.getpid(), 1)]


def test_honest_program_passes_and_reports():
    result = run_tests(GOOD, TESTS, limits=LIMITS)
    assert (result.status, result.passed, result.total, result.ran) == ("passed", 3, 3, 3)
    assert result.fraction == 1.0


def test_wrong_program_fails_with_fraction():
    result = run_tests("def add(a, b):\n    return a * b if a != 1 else a + b\n", TESTS, limits=LIMITS)
    assert (result.status, result.passed, result.ran) == ("failed", 2, 3)
    assert result.fraction == pytest.approx(2 / 3)
    assert "test 1" in result.error and "AssertionError" in result.error


def test_setup_runs_after_the_program():
    program = "class Box:\n    def __init__(self, v):\n        self.v = v\ndef get(b):\n    return b.v\n"
    assert run_tests(program, ["assert get(box) == 7"], setup="box = Box(7)", limits=LIMITS).status == "passed"


def test_output_is_captured_and_capped():
    result = run_tests("print('hello' * 10000)\n" + GOOD, TESTS, limits=SandboxLimits(output_bytes=100))
    assert result.status == "passed" and result.stdout == ("hello" * 20)[:100]


def test_background_thread_does_not_hold_the_result():
    program = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n" + GOOD
    started = time.monotonic()
    assert run_tests(program, TESTS, limits=LIMITS).status == "passed"
    assert time.monotonic() - started < LIMITS.timeout_s


# (name, program, tests) -- all must score 0 and be contained. {outside} is a path outside the work dir,
# {victim} an existing file outside it, {port} a listening socket of this test process.
ADVERSARIAL = [
    ("infinite loop", "while True:\n    pass\n" + GOOD, TESTS),
    ("infinite loop in the tested function", "def add(a, b):\n    while True:\n        pass\n", TESTS),
    ("sleep forever", "import time\ntime.sleep(1000)\n" + GOOD, TESTS),
    ("fork bomb", "import os\nwhile True:\n    os.fork()\n" + GOOD, TESTS),
    ("fork bomb via subprocess", "import subprocess\nwhile True:\n    subprocess.Popen(['sleep', '100'])\n" + GOOD,
     TESTS),
    ("os.system", "import os\nos.system('sleep 100 &')\n" + GOOD, TESTS),
    ("multiprocessing", "import multiprocessing\nmultiprocessing.Process(target=print).start()\n" + GOOD, TESTS),
    ("posix_spawn", "import os\nos.posix_spawn('/bin/sleep', ['sleep', '100'], {{}})\n" + GOOD, TESTS),
    ("ctypes fork", "import ctypes\nctypes.CDLL(None).fork()\n" + GOOD, TESTS),
    ("memory bomb, one allocation", "x = bytearray(8 * 1024 ** 3)\n" + GOOD, TESTS),
    ("memory bomb, growing", "a = []\nwhile True:\n    a.append(' ' * 10 ** 7)\n" + GOOD, TESTS),
    ("write a file outside the work dir", "open({outside!r}, 'w').write('x')\n" + GOOD, TESTS),
    ("write through os.open", "import os\nos.close(os.open({outside!r}, os.O_WRONLY | os.O_CREAT))\n" + GOOD, TESTS),
    ("write via ../", "open('../../' + {outside_name!r}, 'w').write('x')\n" + GOOD, TESTS),
    ("symlink out, then write", "import os\nos.symlink({outside!r}, 'link')\nopen('link', 'w').write('x')\n" + GOOD,
     TESTS),
    ("write with a str subclass path", "class P(str):\n    def startswith(self, *a):\n        return False\n"
     "    def split(self, *a):\n        return []\n"
     "open(P({outside!r}), 'w').write('x')\n" + GOOD, TESTS),
    ("write with a str subclass mode", "class M(str):\n    def __contains__(self, c):\n        return False\n"
     "open({outside!r}, M('w')).write('x')\n" + GOOD, TESTS),
    ("a million small files", "for i in range(10 ** 6):\n    open(f'f{{i}}', 'w').close()\n" + GOOD, TESTS),
    ("delete a file outside", "import os\nos.remove({victim!r})\n" + GOOD, TESTS),
    ("rename a file outside", "import os\nos.rename({victim!r}, 'stolen')\n" + GOOD, TESTS),
    ("rmtree outside", "import shutil\nshutil.rmtree({victim_dir!r})\n" + GOOD, TESTS),
    ("read an inherited secret", "import os\nassert os.environ.get('ZERO_RL_TEST_SECRET') == 'hunter2'\n" + GOOD,
     TESTS),
    ("read the parent's environment", "import os\nassert b'hunter2' in open(f'/proc/{{os.getppid()}}/environ', "
     "'rb').read()\n" + GOOD, TESTS),
    ("open a socket", "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n" + GOOD, TESTS),
    ("raw _socket", "import _socket\ns = _socket.socket()\ns.connect(('127.0.0.1', {port}))\n" + GOOD, TESTS),
    ("kill the parent", "import os, signal\nos.kill(os.getppid(), signal.SIGUSR1)\n" + GOOD, TESTS),
    ("kill the parent's group", "import os, signal\nos.killpg(os.getpgid(os.getppid()), signal.SIGUSR1)\n" + GOOD,
     TESTS),
    ("sys.exit(0) before the asserts", GOOD + "import sys\nsys.exit(0)\n", ["assert add(1, 2) == 4"]),
    ("os._exit(0) before the asserts", GOOD + "import os\nos._exit(0)\n", ["assert add(1, 2) == 4"]),
    ("os._exit(0) inside the tested call", "import os\ndef add(a, b):\n    os._exit(0)\n", TESTS),
    ("raise SystemExit inside the tested call", "def add(a, b):\n    raise SystemExit(0)\n", TESTS),
    ("redefine AssertionError", "import builtins\nclass AssertionError(Exception):\n    pass\n"
     "builtins.AssertionError = AssertionError\ndef add(a, b):\n    return -99\n", TESTS),
    ("patch builtins used by tests", "import builtins\nbuiltins.sorted = lambda *a, **k: [1, 2]\n"
     "def f():\n    return [2, 1, 0]\n", ["assert sorted(f()) == [1, 2]"]),
    ("print 100 MB", "print('x' * 100_000_000)\n" + GOOD, TESTS),
    ("print a fake report and exit", "import os\nfor fd in range(1, 64):\n    try:\n"
     "        os.write(fd, b'0' * 32 + b' namespace 3 3 3 \"\"\\n')\n    except OSError:\n        pass\n"
     "os._exit(0)\n", TESTS),
    ("close every descriptor", "import os\nfor fd in range(64):\n    try:\n        os.close(fd)\n"
     "    except OSError:\n        pass\n" + GOOD, TESTS),
    ("steal the nonce from frames", "import sys\nf = sys._getframe()\nwhile f.f_back:\n    f = f.f_back\n"
     "nonce = f.f_locals['nonce']\n" + GOOD, ["assert add(1, 2) == 4"]),
    ("steal the nonce from gc", "import gc\nprint(len(gc.get_objects()))\n" + GOOD, ["assert add(1, 2) == 4"]),
    ("steal the nonce from /proc/self/mem", "open('/proc/self/mem', 'rb')\n" + GOOD, ["assert add(1, 2) == 4"]),
    ("trace the harness", "import sys\nsys.settrace(lambda *a: None)\n" + GOOD, ["assert add(1, 2) == 4"]),
    ("signal handler frame", "import signal\nsignal.signal(signal.SIGALRM, lambda s, f: None)\n" + GOOD,
     ["assert add(1, 2) == 4"]),
    ("traceback frames", "try:\n    1 / 0\nexcept Exception as e:\n    e.__traceback__.tb_frame.f_back\n" + GOOD,
     ["assert add(1, 2) == 4"]),
    ("raise the resource limits", "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n" + GOOD,
     TESTS),
]


@pytest.fixture
def escape_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("ZERO_RL_TEST_SECRET", "hunter2")
    victim_dir = tmp_path / "victim_dir"
    victim_dir.mkdir()
    victim = victim_dir / "keep.txt"
    victim.write_text("keep")
    outside_name = f"zero_rl_escape_{uuid.uuid4().hex}"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.setblocking(False)
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda *args: received.append(args[0]))
    yield {"outside": f"/tmp/{outside_name}", "outside_name": outside_name, "victim": str(victim),
           "victim_dir": str(victim_dir), "port": server.getsockname()[1], "server": server, "signals": received}
    signal.signal(signal.SIGUSR1, previous)
    server.close()


@pytest.mark.parametrize("name,program,tests", ADVERSARIAL, ids=[row[0] for row in ADVERSARIAL])
def test_adversarial_program_is_contained_and_scores_zero(name, program, tests, escape_targets):
    targets = escape_targets
    source = program.format(**{k: v for k, v in targets.items() if isinstance(v, (str, int))})
    example = {"id": name, "tests": tests}
    completion = f"<think>x</think> <answer>```python\n{source}```</answer>"
    started = time.monotonic()
    # The pass fraction is 0 only if no test passed, so this also covers score="all".
    score = code_reward(completion, example, score="fraction", timeout_s=LIMITS.timeout_s, memory_mb=LIMITS.memory_mb)
    elapsed = time.monotonic() - started

    assert score == 0.0, f"{name}: scored {score}"
    assert elapsed < LIMITS.timeout_s + 1, f"{name}: the reward call took {elapsed:.1f} s"
    assert not os.path.exists(targets["outside"]), f"{name}: wrote outside the work dir"
    assert os.path.exists(targets["victim"]), f"{name}: deleted a file outside the work dir"
    assert targets["signals"] == [], f"{name}: signalled the parent"
    try:
        targets["server"].accept()
        connected = True
    except BlockingIOError:
        connected = False
    assert not connected, f"{name}: reached a socket of the parent"
    assert sandbox_processes() == [], f"{name}: left sandbox processes behind"


def test_namespaces_applied_as_root():
    result = run_tests(GOOD, TESTS, limits=LIMITS)
    if os.geteuid() == 0:
        assert (result.network, result.workdir) == ("namespace", "tmpfs")
    else:  # depends on unprivileged user namespaces; the audit hook blocks sockets either way
        assert result.network in ("namespace", "none") and result.workdir in ("tmpfs", "disk")


def test_reward_returns_within_its_timeout_when_run_in_parallel():
    jobs = [("while True:\n    pass\n", ["assert True"], "")] * 6
    started = time.monotonic()
    results = run_many(jobs, SandboxLimits(timeout_s=1.0), workers=6)
    elapsed = time.monotonic() - started
    assert [r.status for r in results] == ["timeout"] * 6
    assert elapsed < 6 * 1.0, f"6 parallel 1 s timeouts took {elapsed:.1f} s: not parallel"
    assert sandbox_processes() == []


def test_stats_count_outcomes():
    reset_sandbox_stats()
    example = {"id": "x", "tests": TESTS}
    wrap = "<think>x</think> <answer>```python\n{}```</answer>".format
    reward = functools.partial(code_reward, timeout_s=1.0)
    assert reward(wrap(GOOD), example) == 1.0
    assert reward(wrap("def add(a, b):\n    return 0\n"), example) == 0.0
    assert reward(wrap("while True:\n    pass\n"), example) == 0.0
    assert reward("no code here", example) == 0.0
    assert sandbox_stats() == {"passed": 1, "failed": 1, "timeout": 1, "no_code": 1}


@pytest.mark.parametrize("completion,source,expected", [
    ("<think>t</think> <answer>```python\nx = 1\n```</answer>", "answer_fence", "x = 1\n"),
    ("<think>t</think> <answer>```\nx = 1\n```</answer>", "answer_fence", "x = 1\n"),
    ("<answer>```python\nx = 1\n``` then ```python\nx = 2\n```</answer>", "answer_fence", "x = 2\n"),
    ("```python\nx = 0\n```<answer>x = 1</answer>", "answer_fence", None),  # fence outside <answer>
    ("<answer>x = 1</answer>", "answer_fence", None),
    ("<answer>x = 1</answer>", "answer", "x = 1"),
    ("<answer>```python\n```</answer>", "answer_fence", None),  # empty block
    ("```python\nx = 1\n```<answer>?</answer>", "fence", "x = 1\n"),
    ("x = 1", "raw", "x = 1"),
    ("<answer>```python\nx = 1\n", "answer_fence", None),  # truncated: no </answer>
])
def test_extract_code(completion, source, expected):
    assert extract_code(completion, source) == expected


def test_unknown_code_source_lists_valid_ones():
    with pytest.raises(ValueError, match="answer_fence"):
        extract_code("x", "nope")


PREFIX = "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n"


@pytest.mark.parametrize("code", [
    "    return sum(xs)\n",  # body, indented
    "return sum(xs)\n",  # body, unindented
    "def total(xs: List[int]) -> int:\n    return sum(xs)\n",  # full function
    "from typing import List\ndef total(xs):\n    return sum(xs)\n",
])
def test_humaneval_style_programs(code):
    example = {"code_prefix": PREFIX, "entry_point": "total", "tests": ["assert total([1, 2, 3]) == 6"]}
    program = assemble_program(code, example)
    assert run_tests(program, example["tests"], limits=LIMITS).status == "passed"


FILTER_PROBE = """
import ctypes, os, subprocess, sys, threading
sys.path.insert(0, {root!r})
from rewards.sandbox_harness import install_process_filter
assert install_process_filter(ctypes.CDLL(None, use_errno=True)) == "seccomp"
out = []
t = threading.Thread(target=out.append, args=("thread ran",))
t.start(); t.join()
for name, attempt in [("fork", os.fork), ("spawn", lambda: subprocess.Popen(["true"])),
                      ("native fork", lambda: ctypes.CDLL(None, use_errno=True).fork() == -1 and
                                              (_ for _ in ()).throw(OSError(ctypes.get_errno(), "native")))]:
    try:
        attempt()
        out.append(name + " worked")
    except OSError as error:
        out.append(f"{{name}} refused {{error.errno}}")
print(out)
"""


def test_kernel_refuses_fork_but_not_threads_without_the_audit_hook():
    """The seccomp layer alone (no audit hook in this probe): even native code cannot create a process."""
    import subprocess
    import sys

    if os.uname().machine != "x86_64":  # the filter's syscall numbers are x86-64's: it says so instead
        assert run_tests(GOOD, TESTS, limits=LIMITS).processes == "none"
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    probe = subprocess.run([sys.executable, "-c", FILTER_PROBE.format(root=root)], capture_output=True, text=True,
                           timeout=30)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "['thread ran', 'fork refused 1', 'spawn refused 1', 'native fork refused 1']"
    assert run_tests(GOOD, TESTS, limits=LIMITS).processes == "seccomp"


def test_example_without_tests_is_a_clear_error():
    with pytest.raises(ValueError, match="no 'tests' list"):
        code_reward("<answer>```python\nx = 1\n```</answer>", {"id": "mbpp/1", "answer": "x"})


def test_sandbox_dies_with_a_killed_scorer():
    """A pool worker killed on its own timeout must not leave its sandbox child running (PR_SET_PDEATHSIG)."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    scorer = subprocess.Popen([sys.executable, "-c", (
        f"import sys; sys.path.insert(0, {root!r})\n"
        "from rewards.code_exec import run_tests, SandboxLimits\n"
        "run_tests('import time\\ntime.sleep(60)', ['assert True'], limits=SandboxLimits(timeout_s=60))\n")])
    try:
        deadline = time.monotonic() + 20
        children = []
        while not children and time.monotonic() < deadline:
            children = [pid for pid in all_sandbox_processes() if parent_of(pid) == scorer.pid]
            time.sleep(0.05)
        assert children, "the scorer never started its sandbox"
        scorer.kill()
        scorer.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(pid in all_sandbox_processes() for pid in children):
            time.sleep(0.05)
        assert not any(pid in all_sandbox_processes() for pid in children), "sandbox outlived its scorer"
        leftover = [p for p in os.listdir(tempfile.gettempdir()) if p.startswith(f"zero_rl_sandbox_{scorer.pid}_")]
        assert leftover, "expected the killed scorer's temp dir (it could not clean up)"
        assert sweep_stale_dirs() >= 1
        assert not [p for p in os.listdir(tempfile.gettempdir()) if p.startswith(f"zero_rl_sandbox_{scorer.pid}_")]
    finally:
        scorer.kill()
        scorer.wait()


def parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def all_sandbox_processes() -> list:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"zero-rl sandbox harness" in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found
