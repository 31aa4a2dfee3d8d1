"""The code-execution sandbox: honest programs pass, and every escape or cheat in the table is contained and
scores 0. Each row runs a real child process; the whole file takes a few seconds."""

import collections
import decimal
import fractions
import functools
import json
import math
import os
import signal
import socket
import tempfile
import time
import uuid

import pytest

from zero_rl.rewards.code_exec import (_WARNED, SandboxLimits, _missing_layers, _note_missing, assemble_program, code_reward,
                               extract_code, reset_sandbox_stats, run_many, run_tests, sandbox_counters, sandbox_stats,
                               sweep_stale_dirs)
from zero_rl.rewards.test_split import plan_test

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
    assert result.error == "test 1: assert add(-1, 1) == 0: got -1"


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


WRONG = "def add(a, b):\n    return a + b + 1\n"
"""Fails every test in TESTS: any pass in the table below would be a forged or escaped verdict."""

# A signal handler installed through a fresh _signal module (no audit event), walking the interrupted frames
# to the harness's `send` and writing a passing report for every test, then exiting before the real tests run.
SIGNAL_FORGER = '''
import _imp, os
class Spec:
    name = "_signal"
raw = _imp.create_builtin(Spec)
def forge(signum, frame):
    while frame is not None:
        if "send" in frame.f_locals and "config" in frame.f_locals:
            send = frame.f_locals["send"]
            for i in range(len(frame.f_locals["config"]["tests"])):
                send([i, "ok"])
            send(["done"])
            os._exit(0)
        frame = frame.f_back
raw.signal(raw.SIGALRM, forge)
raw.setitimer(raw.ITIMER_REAL, 0.05)
def add(a, b):
    import time
    time.sleep(0.5)
    return a + b + 1
'''
# The same without signals: walk up from the program's own frame to the harness and forge plausible values.
FRAME_FORGER = '''
import sys, os
frame = sys._getframe()
while frame is not None and "send" not in frame.f_locals:
    frame = frame.f_back
send = frame.f_locals["send"]
for i in range(3):
    send([i, [True]])
send(["done"])
os._exit(0)
''' + WRONG
# Rewrite the harness's own plan through gc: make every test an in-process `pass`.
GC_FORGER = '''
import gc
for obj in gc.get_objects():
    if isinstance(obj, dict) and "tests" in obj and "result_fd" in obj:
        obj["tests"][:] = [("in_process", "pass")] * len(obj["tests"])
''' + WRONG
# Write forged lines to every inherited descriptor (the result pipe among them), then let the harness go on.
FD_FORGER = '''
import os
for fd in range(3, 64):
    try:
        for i in range(3):
            os.write(fd, (f'[{{i}}, "ok"]\\n' + f'[{{i}}, [3]]\\n').encode())
        os.write(fd, b'["done"]\\n')
    except OSError:
        pass
''' + WRONG
# A thread that keeps writing claims while the harness runs the tests.
THREAD_FORGER = '''
import os, threading, time
def spam():
    while True:
        for fd in range(3, 16):
            try:
                os.write(fd, b'[0, [3]]\\n[1, [0]]\\n[2, [4]]\\n')
            except OSError:
                pass
        time.sleep(0.001)
threading.Thread(target=spam, daemon=True).start()
''' + WRONG
# Patch the harness's encoder (module __main__) so every value it sends is a claim of the program's choosing.
ENCODER_FORGER = '''
import sys
sys.modules["__main__"].encode = lambda value, depth=0: "pass"
''' + WRONG
LYING_EQ = "class Anything:\n    def __eq__(self, other):\n        return True\n" \
           "def add(a, b):\n    return Anything()\n"
LYING_INT = "class Int(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n" \
            "def add(a, b):\n    return Int(a + b + 1)\n"
LYING_LIST = "class L(list):\n    def __eq__(self, other):\n        return True\n    def __iter__(self):\n" \
             "        return iter([1, 2])\ndef f():\n    return L([9])\n"
SHELLCODE_FORK = '''
import ctypes, mmap
code = b"\\xb8\\x02\\x00\\x00\\x00\\xcd\\x80\\xc3"  # mov eax, 2 (i386 fork); int 0x80; ret
memory = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
memory.write(code)
address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
result = ctypes.CFUNCTYPE(ctypes.c_int)(address)()
if result >= 0:
    import time
    time.sleep(30)
''' + WRONG

# (name, program, tests) -- all must score 0, return within the timeout + 0.5 s, leave the parent alive and
# unsignalled and no process behind. {outside} is a path outside the work dir, {victim} an existing file outside
# it, {port} a listening socket of this test process, {parent} this test process's pid.
ADVERSARIAL = [
    # time, memory, processes
    ("infinite loop", "while True:\n    pass\n" + GOOD, TESTS),
    ("infinite loop in the tested function", "def add(a, b):\n    while True:\n        pass\n", TESTS),
    ("sleep forever", "import time\ntime.sleep(1000)\n" + GOOD, TESTS),
    ("fork bomb", "import os\nwhile True:\n    os.fork()\n" + GOOD, TESTS),
    ("fork bomb via subprocess", "import subprocess\nwhile True:\n    subprocess.Popen(['sleep', '100'])\n" + GOOD,
     TESTS),
    ("os.system", "import os\nos.system('sleep 100 &')\n" + WRONG, TESTS),
    ("leave the process group, then sleep", "import ctypes, time\nlibc = ctypes.CDLL(None)\n"
     "libc.prctl(1, 0, 0, 0, 0)\nlibc.setsid()\nlibc.setpgid(0, 0)\ntime.sleep(30)\n" + WRONG, TESTS),
    ("multiprocessing", "import multiprocessing\nmultiprocessing.Process(target=print).start()\n" + GOOD, TESTS),
    ("posix_spawn", "import os\nos.posix_spawn('/bin/sleep', ['sleep', '100'], {{}})\n" + GOOD, TESTS),
    ("ctypes fork", "import ctypes, time\nif ctypes.CDLL(None).fork() >= 0:\n    time.sleep(30)\n" + WRONG, TESTS),
    ("raw clone syscall", "import ctypes, time\nif ctypes.CDLL(None).syscall(56, 17, 0, 0, 0, 0) >= 0:\n"
     "    time.sleep(30)\n" + WRONG, TESTS),
    ("i386 fork through int 0x80", SHELLCODE_FORK, TESTS),
    ("memory bomb, one allocation", "x = bytearray(8 * 1024 ** 3)\n" + GOOD, TESTS),
    ("memory bomb, growing", "a = []\nwhile True:\n    a.append(' ' * 10 ** 7)\n" + GOOD, TESTS),
    ("memory outside RLIMIT_AS via memfd", "import os\nfd = os.memfd_create('x')\n"
     "for _ in range(2000):\n    os.write(fd, b'x' * 2 ** 20)\n" + GOOD, TESTS),
    ("a million small files", "for i in range(10 ** 6):\n    open(f'f{{i}}', 'w').close()\n" + GOOD, TESTS),
    ("a million directories", "import os\nfor i in range(10 ** 6):\n    os.mkdir(f'd{{i}}')\n" + GOOD, TESTS),
    ("print 100 MB", "print('x' * 100_000_000)\n" + GOOD, TESTS),
    ("a huge return value", "def add(a, b):\n    return list(range(10 ** 7))\n", TESTS),
    ("a cyclic return value", "def add(a, b):\n    x = []\n    x.append(x)\n    return x\n", TESTS),
    ("recursion that overflows the C stack", "import sys\nsys.setrecursionlimit(10 ** 7)\n"
     "def f(n):\n    return f(n + 1)\nf(0)\n" + GOOD, TESTS),
    # files
    ("write a file outside the work dir", "open({outside!r}, 'w').write('x')\n" + GOOD, TESTS),
    ("write through os.open", "import os\nos.close(os.open({outside!r}, os.O_WRONLY | os.O_CREAT))\n" + GOOD, TESTS),
    ("write via ../", "open('../../' + {outside_name!r}, 'w').write('x')\n" + GOOD, TESTS),
    ("symlink out, then write", "import os\nos.symlink({outside!r}, 'link')\nopen('link', 'w').write('x')\n" + GOOD,
     TESTS),
    ("write with ctypes open()", "import ctypes, os\nlibc = ctypes.CDLL(None)\n"
     "assert libc.open({outside!r}.encode(), os.O_WRONLY | os.O_CREAT, 0o644) >= 0\n" + GOOD, TESTS),
    ("unmount the work dir's tmpfs", "import ctypes\nassert ctypes.CDLL(None).umount2(b'.', 2) == 0\n" + GOOD, TESTS),
    ("remount / writable", "import ctypes\nassert ctypes.CDLL(None).mount(None, b'/', None, 32 | 4096, None) == 0\n"
     + GOOD, TESTS),
    ("delete a file outside", "import os\nos.remove({victim!r})\n" + GOOD, TESTS),
    ("rename a file outside", "import os\nos.rename({victim!r}, 'stolen')\n" + GOOD, TESTS),
    ("rmtree outside", "import shutil\nshutil.rmtree({victim_dir!r})\n" + GOOD, TESTS),
    # secrets, network, other processes
    ("read an inherited secret", "import os\nassert os.environ.get('ZERO_RL_TEST_SECRET') == 'hunter2'\n" + GOOD,
     TESTS),
    ("read the parent's environment", "assert b'hunter2' in open('/proc/{parent}/environ', 'rb').read()\n" + GOOD,
     TESTS),
    ("read a raw disk", "import os\ndisks = [d for d in os.listdir('/sys/block')]\n"
     "assert any(open('/dev/' + d, 'rb').read(512) for d in disks)\n" + GOOD, TESTS),
    ("see the parent in /proc", "import os\nassert '{parent}' in os.listdir('/proc')\n" + GOOD, TESTS),
    ("open a socket", "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n" + GOOD, TESTS),
    ("raw _socket", "import _socket\ns = _socket.socket()\ns.connect(('127.0.0.1', {port}))\n" + GOOD, TESTS),
    ("kill the parent", "import os, signal\nos.kill({parent}, signal.SIGUSR1)\n" + GOOD, TESTS),
    ("kill getppid()", "import os, signal\nos.kill(os.getppid(), signal.SIGUSR1)\n" + GOOD, TESTS),
    ("kill the parent's group", "import os, signal\nos.killpg({parent}, signal.SIGUSR1)\n" + GOOD, TESTS),
    ("kill everyone", "import os, signal\nos.kill(-1, signal.SIGUSR1)\n" + GOOD, TESTS),
    ("kill through ctypes", "import ctypes\nassert ctypes.CDLL(None).kill({parent}, 10) == 0\n" + GOOD, TESTS),
    ("tgkill the parent", "import ctypes\nassert ctypes.CDLL(None).syscall(234, {parent}, {parent}, 10) == 0\n"
     + GOOD, TESTS),
    ("pidfd_send_signal to the parent", "import os, signal\nfd = os.pidfd_open({parent})\n"
     "signal.pidfd_send_signal(fd, signal.SIGUSR1)\n" + GOOD, TESTS),
    ("pidfd through a fresh _signal", "import _imp, os\nclass S:\n    name = '_signal'\nraw = _imp.create_builtin(S)\n"
     "raw.pidfd_send_signal(os.pidfd_open({parent}), 10)\n" + GOOD, TESTS),
    ("rt_sigqueueinfo to the parent", "import ctypes\ninfo = ctypes.create_string_buffer(128)\n"
     "assert ctypes.CDLL(None).syscall(129, {parent}, 10, info) == 0\n" + GOOD, TESTS),
    ("ptrace the parent", "import ctypes\nassert ctypes.CDLL(None).ptrace(16, {parent}, 0, 0) == 0\n" + GOOD, TESTS),
    ("lower the parent's limits", "import resource\nresource.prlimit({parent}, resource.RLIMIT_NOFILE, (3, 3))\n"
     + GOOD, TESTS),
    ("renice every process of the user", "import os\nos.setpriority(os.PRIO_USER, os.getuid(), 19)\n" + GOOD,
     TESTS),
    ("pin the parent to one CPU", "import os\nos.sched_setaffinity({parent}, {{0}})\n" + GOOD, TESTS),
    ("io_uring", "import ctypes\nparams = ctypes.create_string_buffer(120)\n"
     "assert ctypes.CDLL(None).syscall(425, 8, params) >= 0\n" + GOOD, TESTS),
    ("process_vm_readv of the parent", "import ctypes\nassert ctypes.CDLL(None).syscall(310, {parent}, 0, 0, 0, 0, 0)"
     " >= 0\n" + GOOD, TESTS),
    # forging the verdict
    ("sys.exit(0) before the asserts", WRONG + "import sys\nsys.exit(0)\n", TESTS),
    ("os._exit(0) before the asserts", WRONG + "import os\nos._exit(0)\n", TESTS),
    ("os._exit(0) inside the tested call", "import os\ndef add(a, b):\n    os._exit(0)\n", TESTS),
    ("raise SystemExit inside the tested call", "def add(a, b):\n    raise SystemExit(0)\n", TESTS),
    ("redefine AssertionError", "import builtins\nclass AssertionError(Exception):\n    pass\n"
     "builtins.AssertionError = AssertionError\ndef add(a, b):\n    return -99\n", TESTS),
    ("patch builtins used by tests", "import builtins\nbuiltins.sorted = lambda *a, **k: [1, 2]\n"
     "def f():\n    return [2, 1, 0]\n", ["assert sorted(f()) == [1, 2]"]),
    ("define builtins the tests use", "def int(x=0):\n    return str\ntype = lambda x: str\n"
     "isinstance = lambda *a: True\ndef f():\n    return '1'\n",
     ["assert type(f()) is int", "assert isinstance(f(), int)", "assert f() == 1"]),
    ("patch math.isclose", "import math\nmath.isclose = lambda *a, **k: True\ndef area(r):\n    return 0\n",
     ["assert math.isclose(area(1), 3.14159, rel_tol=1e-3)"]),
    ("print a fake report and exit", "import os\nfor fd in range(1, 64):\n    try:\n"
     "        os.write(fd, b'[\"layers\", {{}}]\\n[0, \"ok\"]\\n[1, \"ok\"]\\n[2, \"ok\"]\\n[\"done\"]\\n')\n"
     "    except OSError:\n        pass\nos._exit(0)\n", TESTS),
    ("forged lines on every descriptor", FD_FORGER, TESTS),
    ("malformed lines and an early done", "import os\nfor fd in range(3, 20):\n    try:\n        os.write(fd, "
     "b'[0]\\n[1]\\n[2]\\n[\"done\"]\\n[\"layers\", 1]\\n' + b'[' * 100000 + b'\\n' + b'9' * 5000 + b'\\n')\n"
     "    except OSError:\n        pass\nos._exit(0)\n" + WRONG, TESTS),
    ("a thread that forges while the tests run", THREAD_FORGER, TESTS),
    ("close every descriptor", "import os\nfor fd in range(64):\n    try:\n        os.close(fd)\n"
     "    except OSError:\n        pass\n" + WRONG, TESTS),
    ("signal handler via _imp.create_builtin walks frames", SIGNAL_FORGER, TESTS),
    ("frame walking to the harness", FRAME_FORGER, TESTS),
    ("gc rewrites the harness's plan", GC_FORGER, TESTS),
    ("patch the harness's encoder", ENCODER_FORGER, TESTS),
    ("an object whose __eq__ is always true", LYING_EQ, TESTS),
    ("an int subclass whose __eq__ is always true", LYING_INT, TESTS),
    ("a list subclass that lies", LYING_LIST, ["assert f() == [1, 2]"]),
    ("write to /proc/self/mem", "import ctypes\nx = ctypes.c_int(0)\n"
     "with open('/proc/self/mem', 'r+b') as m:\n    m.seek(ctypes.addressof(x))\n    m.write(b'\\x01')\n" + WRONG,
     TESTS),
    ("trace the harness", "import sys\nsys.settrace(lambda *a: None)\n" + WRONG, TESTS),
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
           "victim_dir": str(victim_dir), "port": server.getsockname()[1], "server": server, "signals": received,
           "parent": os.getpid()}
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
    assert elapsed < LIMITS.timeout_s + 0.5, f"{name}: the reward call took {elapsed:.2f} s"
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


# (name, program, tests): idioms of honest programs that must pass.
BENIGN = [
    ("logging", "import logging\nlogging.basicConfig(level=logging.INFO)\nlog = logging.getLogger(__name__)\n"
     "def add(a, b):\n    log.info('adding %s and %s', a, b)\n    return a + b\n", TESTS),
    ("concurrent.futures threads", "from concurrent.futures import ThreadPoolExecutor\n"
     "def add(a, b):\n    with ThreadPoolExecutor(2) as pool:\n        return sum(pool.map(int, [a, b]))\n", TESTS),
    ("asyncio.run", "import asyncio\nasync def plus(a, b):\n    await asyncio.sleep(0)\n    return a + b\n"
     "def add(a, b):\n    return asyncio.run(plus(a, b))\n", TESTS),
    ("dataclass without a docstring", "from dataclasses import dataclass\n@dataclass\nclass P:\n    a: int\n"
     "    b: int\ndef add(a, b):\n    p = P(a, b)\n    return p.a + p.b\n", TESTS),
    ("inspect.signature", "import inspect\ndef add(a, b):\n    assert len(inspect.signature(add).parameters) == 2\n"
     "    return a + b\n", TESTS),
    ("traceback.print_exc", "import traceback\ndef add(a, b):\n    try:\n        1 / 0\n    except ZeroDivisionError:\n"
     "        traceback.print_exc()\n    return a + b\n", TESTS),
    ("input() at the end of stdin", "def add(a, b):\n    try:\n        input()\n    except EOFError:\n"
     "        pass\n    return a + b\n", TESTS),
    ("sys.stdin.read() is empty", "import sys\nassert sys.stdin.read() == ''\n" + GOOD, TESTS),
    ("import subprocess, socket, urllib.request", "import subprocess, socket, urllib.request, ctypes\n" + GOOD,
     TESTS),
    ("__code__ and frames", "import sys\ndef add(a, b):\n    assert add.__code__.co_argcount == 2\n"
     "    assert sys._getframe().f_code.co_name == 'add'\n    return a + b\n", TESTS),
    ("a signal handler for itself", "import signal\nhits = []\n"
     "signal.signal(signal.SIGUSR1, lambda s, f: hits.append(s))\nsignal.raise_signal(signal.SIGUSR1)\n"
     "assert hits == [signal.SIGUSR1]\n" + GOOD, TESTS),
    ("gc", "import gc\ngc.collect()\nassert gc.get_objects()\n" + GOOD, TESTS),
    ("files in the work dir and tempfile", "import os, tempfile\nopen('notes.txt', 'w').write('x')\n"
     "with tempfile.TemporaryDirectory() as d:\n    open(os.path.join(d, 'a'), 'w').write('y')\n"
     "assert open('notes.txt').read() == 'x'\n" + GOOD, TESTS),
    ("threads and a lock", "import threading\nlock = threading.Lock()\ndef add(a, b):\n    out = []\n"
     "    def work(x):\n        with lock:\n            out.append(x)\n"
     "    ts = [threading.Thread(target=work, args=(v,)) for v in (a, b)]\n    [t.start() for t in ts]\n"
     "    [t.join() for t in ts]\n    return sum(out)\n", TESTS),
    ("deep recursion with a raised limit", "import sys\nsys.setrecursionlimit(10000)\ndef depth(n):\n"
     "    return 0 if n == 0 else 1 + depth(n - 1)\n", ["assert depth(3000) == 3000"]),
    ("Counter, defaultdict, OrderedDict, namedtuple results",
     "from collections import Counter, defaultdict, OrderedDict, namedtuple\nPoint = namedtuple('Point', 'x y')\n"
     "def count(s):\n    return Counter(s)\ndef groups(xs):\n    d = defaultdict(list)\n    for x in xs:\n"
     "        d[x % 2].append(x)\n    return d\ndef ordered():\n    return OrderedDict([(1, 'a')])\n"
     "def point():\n    return Point(1, 2)\n",
     ["assert count('aab') == {'a': 2, 'b': 1}", "assert groups([1, 2, 3]) == {1: [1, 3], 0: [2]}",
      "assert ordered() == {1: 'a'}", "assert point() == (1, 2)"]),
    ("sets, frozensets, bytes, complex, big ints, nan", "import math\ndef f():\n    return {1, 2}\n"
     "def g():\n    return frozenset('ab')\ndef h():\n    return b'\\x00\\xff'\ndef c():\n    return 1 + 2j\n"
     "def big():\n    return 2 ** 5000\ndef nan():\n    return float('nan')\n"
     "def keys():\n    return {(1, 'a'): [None]}\n",
     ["assert f() == {1, 2}", "assert g() == frozenset({'a', 'b'})", "assert h() == b'\\x00\\xff'",
      "assert c() == complex(1, 2)", "assert big() == 2 ** 5000", "assert math.isnan(nan())",
      "assert keys() == {(1, 'a'): [None]}"]),
    ("generators and test shapes", "def gen(n):\n    yield from range(n)\ndef close():\n    return 0.1 + 0.2\n"
     "def flag(x):\n    return x > 0\n",
     ["assert list(gen(3)) == [0, 1, 2]", "assert abs(close() - 0.3) < 1e-9", "assert math.isclose(close(), 0.3)",
      "assert flag(1) is True", "assert not flag(-1)", "assert flag(2)", "assert set(gen(3)) == {2, 1, 0}",
      "assert sorted(gen(3), reverse=True)[0] == 2", "assert type(close()) is float",
      "assert isinstance(flag(1), bool)",
      "assert round(close(), 2) == 0.3", "assert len(list(gen(4))) == 4"]),
    ("a HumanEval check function", "def add(a, b):\n    return a + b\n",
     ["METADATA = {}\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n"
      "    assert abs(candidate(0.1, 0.2) - 0.3) < 1e-9"
      "\n    assert candidate('a', 'b') == 'ab', 'strings'\n\ncheck(add)\n"]),
    ("prints", "print('hello')\n" + GOOD, TESTS),
    ("enum, typing, json, re, random, time, datetime, heapq, itertools",
     "import enum, typing, json, re, random, time, datetime, heapq, itertools\nclass C(enum.Enum):\n    A = 1\n"
     "time.sleep(0.01)\nrandom.seed(0)\nassert json.loads(json.dumps([1])) == [1]\n" + GOOD, TESTS),
]


@pytest.mark.parametrize("name,program,tests", BENIGN, ids=[row[0] for row in BENIGN])
def test_benign_idiom_passes(name, program, tests):
    result = run_tests(program, tests, limits=SandboxLimits(timeout_s=10.0))
    assert result.status == "passed", f"{name}: {result.error} {result.stderr[-500:]}"
    assert result.in_process == 0, f"{name}: a test ran in process"
    assert sandbox_processes() == []


def test_output_printed_by_the_program_is_flushed():
    result = run_tests("print('hello')\nimport sys\nprint('warn', file=sys.stderr)\n" + GOOD, TESTS, limits=LIMITS)
    assert (result.status, result.stdout, result.stderr) == ("passed", "hello\n", "warn\n")


def test_builtins_the_reference_defines_stay_the_programs():
    program = "def sum(a, b):\n    return a - b\n"
    tests = ["assert sum(10, 3) == 7"]
    assert run_tests(program, tests, limits=LIMITS, reference=program).status == "passed"
    assert run_tests(program, tests, limits=LIMITS).status == "failed"  # no reference: the pristine builtin


def test_code_reward_takes_the_reference_from_the_example():
    program = "def sum(a, b):\n    return a - b\n"
    completion = f"<think>x</think> <answer>```python\n{program}```</answer>"
    example = {"id": "mbpp/126-like", "tests": ["assert sum(10, 3) == 7"], "answer": program}
    assert code_reward(completion, example, timeout_s=LIMITS.timeout_s) == 1.0
    assert code_reward(completion, {**example, "answer": ""}, timeout_s=LIMITS.timeout_s) == 0.0


def test_unsplittable_tests_run_in_process_and_are_counted():
    reset_sandbox_stats()
    tests = ["for x in [1, 2]:\n    if x:\n        assert add(x, 1) == x + 1"] + TESTS
    result = run_tests(GOOD, tests, limits=LIMITS)
    assert (result.status, result.in_process) == ("passed", 1)
    assert sandbox_counters()["in_process_tests"] == 1
    # A forger passes such a test (its verdict is inside the child) but still fails every split one.
    forged = run_tests(SIGNAL_FORGER, tests, limits=LIMITS)
    assert forged.passed <= 1 and forged.status != "passed"


def test_layers_are_all_applied():
    result = run_tests(GOOD, TESTS, limits=LIMITS)
    assert result.layers == {"user": True, "mount": True, "pid": True, "network": True, "readonly": True,
                             "tmpfs": True, "proc": "private", "capabilities_dropped": True, "seccomp": True}
    assert (result.network, result.processes, result.workdir) == ("namespace", "seccomp", "tmpfs")


def test_a_missing_layer_is_counted_and_logged_once(caplog):
    reset_sandbox_stats()
    layers = {"user": False, "mount": True, "pid": True, "network": True, "readonly": True, "tmpfs": True,
              "proc": "hidden", "capabilities_dropped": True, "seccomp": True}
    missing = _missing_layers(layers, LIMITS)
    assert missing == ["user", "proc"]
    assert _missing_layers(dict(layers, network=False), SandboxLimits(network_namespace=False)) == ["user", "proc"]
    _WARNED.discard("user")
    _WARNED.discard("proc")
    with caplog.at_level("WARNING", logger="zero_rl.rewards.code_exec"):
        _note_missing(missing)
        _note_missing(missing)
    assert sandbox_counters() == {"missing_layer/user": 2, "missing_layer/proc": 2}
    assert sum("'user' could not be applied" in r.getMessage() for r in caplog.records) == 1


FALLBACK_ROWS = ["read a raw disk", "write a file outside the work dir", "write through os.open",
                 "symlink out, then write", "delete a file outside", "rename a file outside",
                 "read the parent's environment", "kill the parent",
                 "kill the parent's group", "kill everyone", "kill through ctypes", "pidfd_send_signal to the parent",
                 "ptrace the parent", "lower the parent's limits", "renice every process of the user",
                 "pin the parent to one CPU", "fork bomb", "ctypes fork",
                 "signal handler via _imp.create_builtin walks frames",
                 "frame walking to the harness", "gc rewrites the harness's plan", "print a fake report and exit",
                 "a million small files"]


@pytest.mark.parametrize("name", FALLBACK_ROWS)
def test_without_namespaces_the_fallback_guards_contain_and_missing_layers_are_counted(name, escape_targets):
    """A machine where unshare is refused (e.g. a container's seccomp profile): still score 0 and contained."""
    program, tests = next((row[1], row[2]) for row in ADVERSARIAL if row[0] == name)
    source = program.format(**{k: v for k, v in escape_targets.items() if isinstance(v, (str, int))})
    reset_sandbox_stats()
    started = time.monotonic()
    result = run_tests(source, tests, limits=SandboxLimits(timeout_s=1.0, memory_mb=512, namespaces=False))
    assert time.monotonic() - started < 1.5, f"{name}: took {time.monotonic() - started:.2f} s"
    assert result.passed == 0 and result.status != "passed", name
    assert not os.path.exists(escape_targets["outside"]) and os.path.exists(escape_targets["victim"])
    assert escape_targets["signals"] == [] and sandbox_processes() == []
    if result.layers:  # rows that close the result pipe leave no layer report
        assert result.layers["proc"] == "host" and not result.layers["user"] and result.layers["seccomp"]
        assert sandbox_counters().get("missing_layer/pid") is None  # not expected when namespaces are off


def test_without_namespaces_honest_programs_still_pass():
    limits = SandboxLimits(timeout_s=5.0, namespaces=False)
    for name, program, tests in BENIGN:
        if "ctypes" in program:
            continue
        result = run_tests(program, tests, limits=limits)
        assert result.status == "passed", f"{name}: {result.error}"


UNPRIVILEGED_USER = "zerorl-sandbox"
"""Created by .ci/run; `nobody` is used where it does not exist."""


def test_tables_pass_as_an_unprivileged_user():
    """The adversarial and benign tables again, as an ordinary user (as root, they ran above)."""
    import pwd
    import subprocess
    import sys

    if os.geteuid() != 0:
        result = run_tests(GOOD, TESTS, limits=LIMITS)
        assert result.layers["user"] and result.workdir == "tmpfs", result.layers  # non-root keeps the tmpfs
        return
    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        user = pwd.getpwnam("nobody")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    probe = subprocess.run([sys.executable, "-c", "import pytest, zero_rl.rewards.code_exec"], cwd=root,
                           user=user.pw_uid, group=user.pw_gid, extra_groups=[], capture_output=True, text=True, env={
                               "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": root})
    assert probe.returncode == 0, (
        f"user {user.pw_name} cannot run {sys.executable} on {root} ({probe.stderr.strip()[-300:]}): create the "
        f"user and make the interpreter reachable as .ci/run does")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__,
                          "-k", "adversarial or benign or layers or flushed"],
                         cwd=root, user=user.pw_uid, group=user.pw_gid, extra_groups=[], capture_output=True, text=True,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": root, "HOME": "/tmp",
                              "OMP_NUM_THREADS": "1"}, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout


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
import ctypes, os, resource, signal, subprocess, sys, threading
sys.path.insert(0, {root!r})
from zero_rl.rewards.sandbox_harness import install_process_filter
assert install_process_filter(ctypes.CDLL(None, use_errno=True)) == "seccomp"
out = []
t = threading.Thread(target=out.append, args=("thread ran",))
t.start(); t.join()
libc = ctypes.CDLL(None, use_errno=True)
def native(result):
    if result == -1:
        raise OSError(ctypes.get_errno(), "native")
signal.signal(signal.SIGUSR1, lambda *a: out.append("self signalled"))
os.kill(os.getpid(), signal.SIGUSR1)
for name, attempt in [("fork", os.fork), ("spawn", lambda: subprocess.Popen(["true"])),
                      ("native fork", lambda: native(libc.fork())),
                      ("kill parent", lambda: os.kill(os.getppid(), 0)),
                      ("kill group", lambda: os.kill(0, 0)),
                      ("pidfd_open", lambda: os.pidfd_open(os.getppid())),
                      ("ptrace", lambda: native(libc.ptrace(16, os.getppid(), 0, 0))),
                      ("memfd", lambda: os.memfd_create("x")),
                      ("own limits", lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0))),
                      ("parent's limits", lambda: resource.prlimit(os.getppid(), resource.RLIMIT_CORE))]:
    try:
        attempt()
        out.append(name + " worked")
    except OSError as error:
        out.append(f"{{name}} refused {{error.errno}}")
print(out)
"""


def test_kernel_refuses_processes_and_foreign_signals_without_namespaces():
    """The seccomp layer alone (no namespaces in this probe): even native code cannot create a process or reach
    another one, while threads and signals to itself work."""
    import subprocess
    import sys

    if os.uname().machine != "x86_64":  # the filter's syscall numbers are x86-64's: it says so instead
        assert run_tests(GOOD, TESTS, limits=LIMITS).processes == "none"
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    probe = subprocess.run([sys.executable, "-c", FILTER_PROBE.format(root=root)], capture_output=True, text=True,
                           timeout=30)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == str(["thread ran", "self signalled", "fork refused 1", "spawn refused 1",
                                        "native fork refused 1", "kill parent refused 1", "kill group refused 1",
                                        "pidfd_open refused 1", "ptrace refused 1", "memfd refused 1",
                                        "own limits worked", "parent's limits refused 1"])
    assert run_tests(GOOD, TESTS, limits=LIMITS).processes == "seccomp"


# (test, program names it may call, expected plan: None = in process, else [(shipped, verdict), ...])
SPLITS = [
    ("assert f(3) == [1, 2]", (), [(("f(3)",), "__value_0 == [1, 2]")]),
    ("assert f(x=3) == (1, 2), 'message'", (), [(("f(x=3)",), "__value_0 == (1, 2)")]),
    ("assert math.isclose(f(2), 3.5, rel_tol=0.001)", (), [(("f(2)",), "math.isclose(__value_0, 3.5, rel_tol=0.001)")]),
    ("assert set(f(1)) == {1, 2}", (), [(("set(f(1))",), "__value_0 == {1, 2}")]),
    ("assert f(1)", (), [(("f(1)",), "__value_0")]),
    ("assert not f(1)", (), [(("not f(1)",), "__value_0")]),
    ("assert f(1) is True", (), [(("f(1)",), "__value_0 is True")]),
    ("assert abs(f(1) - 0.5) < 1e-06", (), [(("f(1)",), "abs(__value_0 - 0.5) < 1e-06")]),
    ("assert type(f(1)) is int", (), [(("f(1)",), "type(__value_0) is int")]),
    ("assert f(1) == g(2)", (), [(("f(1) == g(2)",), "__value_0")]),
    ("assert sum(10, 15) == 6", ("sum",), [(("sum(10, 15)",), "__value_0 == 6")]),
    ("assert sum(f(1)) == 6", (), [(("sum(f(1))",), "__value_0 == 6")]),
    ("from math import isclose\nassert isclose(f(1), 2.0)", (), [(("f(1)",), "isclose(__value_0, 2.0)")]),
    ("EXPECTED = [1, 2]\nassert f(1) == EXPECTED", (), [(("f(1)",), "__value_0 == EXPECTED")]),
    ("def check(candidate):\n    assert candidate(1) == 2\n    assert True\ncheck(inc)", (),
     [(("candidate(1)",), "__value_0 == 2"), ((), "True")]),
    ("for x in range(2):\n    assert f(x, x + 1) == str(x)", (),
     [(("f(0, 0 + 1)",), "__value_0 == str(0)"), (("f(1, 1 + 1)",), "__value_0 == str(1)")]),
    ("for x in range(10 ** 6):\n    assert f(x) == x", (), None),  # too many to unroll
    ("for x in data:\n    assert f(x) == x", (), None),
    ("for x in range(3):\n    if x:\n        assert f(x) == x", (), None),
    ("x = f(1)\nassert x == 2", (), None),
    ("try:\n    f(1)\nexcept ValueError:\n    pass", (), None),
    ("def helper(a, b):\n    return a == b\nassert helper(f(1), 2)", (), None),  # 2 would enter the child
    ("assert f(1) * 10 ** 9 == 3", (), None),  # the parent does not multiply program values
    ("assert [round(v, 2) for v in f(1)] == [0.5]", (), None),
    ("assert f(1) % 2 == 0", (), None),  # str % formatting of a claimed value could be huge
    ("assert list(range(f(1), 10)) == [9]", (), None),  # range of a claimed -10**12 would be built here
    ("assert set(f(1) + [1]) == {1}", (), None),  # colliding ints would make set() quadratic here
    ("assert set(f(1)) - {1} == {2}", (), [(("set(f(1))",), "__value_0 - {1} == {2}")]),  # a set is checked
]


@pytest.mark.parametrize("test,own,expected", SPLITS, ids=[row[0][:40] for row in SPLITS])
def test_tests_are_split_so_expected_values_stay_outside(test, own, expected):
    plan = plan_test(test, frozenset(own))
    if expected is None:
        assert plan.in_process, plan
        return
    assert not plan.in_process, plan.reason
    assert [(u.shipped, u.verdict) for u in plan.split.units] == expected


def test_expected_constants_do_not_enter_the_child():
    plan = plan_test("INPUT = [3, 1]\nEXPECTED = [1, 3]\nassert f(INPUT) == EXPECTED")
    assert "INPUT" in plan.split.child_preamble and "EXPECTED" not in plan.split.child_preamble
    check = plan_test("def check(candidate):\n    lst = list(range(3))\n    total = sum(lst)\n"
                      "    assert candidate(lst) == total\ncheck(f)")
    assert "lst" in check.split.child_preamble and "total" not in check.split.child_preamble


# values as a program returns them -> what the parent sees (None: the test fails, nothing crosses)
VALUES = [
    (None, None), (True, True), (3, 3), (-2 ** 600, -2 ** 600), (0.5, 0.5), ("é\udc80", "é\udc80"),
    ([1, (2, "x")], [1, (2, "x")]), ({1: {2}}, {1: {2}}), (frozenset({1}), frozenset({1})), (b"\x00", b"\x00"),
    (bytearray(b"a"), bytearray(b"a")), (1 + 2j, 1 + 2j), (float("inf"), float("inf")),
    (collections.OrderedDict([(1, 2)]), {1: 2}), (collections.Counter("aa"), {"a": 2}),
    ({"a": 1}.keys(), {"a"}), ({"a": 1}.items(), {("a", 1)}), (fractions.Fraction(1, 3), fractions.Fraction(1, 3)),
    (decimal.Decimal("1.10"), decimal.Decimal("1.10")),
]


@pytest.mark.parametrize("value,seen", VALUES, ids=[repr(row[0])[:30] for row in VALUES])
def test_values_cross_the_boundary_as_plain_data(value, seen):
    from zero_rl.rewards.verdict import decode
    from zero_rl.rewards.sandbox_harness import encode, to_json

    got = decode(json.loads(to_json(encode(value))))
    assert got == seen and type(got) is type(seen)


@pytest.mark.parametrize("item", [
    ["s"] + [i * (2 ** 61 - 1) for i in range(1000)],  # 1,000 distinct ints with one hash: quadratic to build
    ["d"] + [x for i in range(1000) for x in (["t", i * (2 ** 61 - 1)], 0)],
    ["m", "1e999999"], ["i", "z"], ["x", 1], ["s", ["l"]], "not a list", [["l"]] * 200,
], ids=["colliding set", "colliding dict keys", "huge Decimal", "bad hex", "unknown tag", "unhashable",
        "bare string", "nested too deep"])
def test_malformed_or_costly_values_are_refused_here(item):
    from zero_rl.rewards.verdict import decode

    nested = item
    if item == [["l"]] * 200:
        nested = ["l"]
        for _ in range(200):
            nested = ["l", nested]
    if nested == "not a list":
        assert decode(nested) == "not a list"  # a str is a value
        return
    started = time.monotonic()
    with pytest.raises((ValueError, TypeError)):
        decode(nested)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("value", [object(), print, type, float("nan"), iter([1])],
                         ids=["object", "function", "type", "nan", "iterator"])
def test_values_without_plain_form(value):
    from zero_rl.rewards.verdict import decode
    from zero_rl.rewards.sandbox_harness import encode, to_json

    if isinstance(value, float):  # nan crosses, and stays nan
        assert math.isnan(decode(json.loads(to_json(encode(value)))))
    elif hasattr(value, "__next__"):  # an iterator crosses as a one-shot iterator
        assert list(decode(json.loads(to_json(encode(value))))) == [1]
    else:
        with pytest.raises(TypeError, match="plain data only"):
            encode(value)


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
        "from zero_rl.rewards.code_exec import run_tests, SandboxLimits\n"
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
