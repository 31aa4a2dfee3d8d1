"""zero-rl sandbox harness. Runs as the sandbox child: `python -I -S -B -c <bootstrap>` reads this file's code
object, compiled once by the parent, from stdin and runs it. Never imported by the trainer (tests import its
functions to probe one layer alone).

Protocol. After the code object, the parent writes one marshalled dict to stdin: {"result_fd", "parent_pid",
"program", "setup", "tests", "own_builtins", "limits", "network_namespace", "namespaces"}; each test is either
("split", child_preamble, candidate, [[expression source, ...] per assert]) or ("in_process", source).

The launcher (this process) enters new user, mount, PID and network namespaces in one unshare, makes every mount
read-only, mounts a capped tmpfs over the work dir and forks: the fork is PID 1 of the new PID namespace. It
mounts a private /proc, drops every capability, installs the seccomp filter and the rlimits, and writes the line
`["layers", {...}]` to result_fd (before any untrusted code runs, so the parent reads the layers from the first
line). It runs `program` then `setup` in one namespace, then writes for each test a JSON line: `[i, [value,
...]]` with the encoded value of each shipped expression (or `["!", error]`), or `[i, "ok"]` / `[i, "!", error]`
for a test run in process, then `["done"]` (batched into few writes); it flushes stdout/stderr and calls
os._exit(0). The launcher waits and exits with the fork's status; on SIGTERM (the parent ending a run) it kills
the fork and reaps it first.

Nothing here needs to be secret: the verdict of a split test is computed by the parent from the values alone
(rewards/test_split.py), so writing lines to result_fd can only claim values. rewards/code_exec.py says what
contains what.
"""

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000

# x86-64 syscall numbers used by the filter.
_DENY = {
    # creating processes and running programs (clone without CLONE_THREAD is handled separately)
    "fork": 57, "vfork": 58, "execve": 59, "execveat": 322,
    # reaching other processes
    "tkill": 200, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    # leaving the process group the parent kills at the end (PID 1 of the namespace outlives its launcher)
    "setsid": 112, "setpgid": 109,
    # changing the namespaces and mounts set up for the child
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442,
    # other processes' priorities and memory (same-uid processes are fair game for these without a PID namespace)
    "setpriority": 141, "ioprio_set": 251, "migrate_pages": 256, "move_pages": 279, "process_madvise": 440,
    "process_mrelease": 448,
    # memory outside RLIMIT_AS, kernel interfaces no program needs (io_uring operations bypass seccomp)
    "memfd_create": 319, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250,
    "add_key": 248, "request_key": 249, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
}
_SELF_ONLY = {"kill": 62, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297}
"""Signals: allowed only when the first argument is the child's own pid (os.kill(os.getpid()), raise(),
pthread_kill on its own threads); any other target, 0 (the group) or -1 (everyone) is refused."""
_SELF_OR_ZERO = {"prlimit64": 302, "sched_setaffinity": 203, "sched_setscheduler": 144, "sched_setparam": 142,
                 "sched_setattr": 314, "get_robust_list": 274}
"""Calls on a pid where 0 means the caller (glibc's getrlimit/setrlimit use prlimit64(0, ...)): allowed for 0 and
the child's own pid only, so no other process's limits, CPUs or scheduling can be changed."""


def seccomp_program(own_pid: int) -> list:
    """The BPF program (code, jt, jf, k) rows: deny the syscalls above with EPERM, clone3 with ENOSYS (glibc then
    uses clone for threads), clone without CLONE_THREAD with EPERM, signals to anyone but itself and pid calls
    (prlimit, sched_*) on anyone but itself with EPERM,
    any other architecture (i386 via int 0x80) and the x32 ABI with EPERM; allow the rest."""
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050001, 0x00050026
    head = [(ld, 0, 0, 4), (jeq, 1, 0, 0xC000003E), ("EPERM",), (ld, 0, 0, 0), (jge, "EPERM", 0, 0x40000000),
            (jeq, "ENOSYS", 0, 435), (jeq, "CLONE", 0, 56)]
    head += [(jeq, "EPERM", 0, number) for number in sorted(_DENY.values())]
    head += [(jeq, "SELF", 0, number) for number in sorted(_SELF_ONLY.values())]
    head += [(jeq, "SELF0", 0, number) for number in sorted(_SELF_OR_ZERO.values())]
    head += [("ALLOW",)]
    tail = {
        "CLONE": [(ld, 0, 0, 16), (jset, "ALLOW", "EPERM", 0x00010000)],
        "SELF": [(ld, 0, 0, 16), (jeq, "ALLOW", "EPERM", own_pid & 0xFFFFFFFF)],
        "SELF0": [(ld, 0, 0, 16), (jeq, "ALLOW", 0, 0), (jeq, "ALLOW", "EPERM", own_pid & 0xFFFFFFFF)],
        "ALLOW": [(ret, 0, 0, allow)], "EPERM": [(ret, 0, 0, eperm)], "ENOSYS": [(ret, 0, 0, enosys)],
    }
    rows = list(head)
    labels = {}
    for label in ("CLONE", "SELF", "SELF0", "ALLOW", "EPERM", "ENOSYS"):
        labels[label] = len(rows)
        rows += tail[label]
    resolved = []
    for index, row in enumerate(rows):
        if len(row) == 1:  # an unconditional jump to a label: ja
            resolved.append((0x05, 0, 0, labels[row[0]] - index - 1))
            continue
        code, jt, jf, k = row
        jt = labels[jt] - index - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - index - 1 if isinstance(jf, str) else jf
        if not (0 <= jt < 256 and 0 <= jf < 256):
            raise ValueError("seccomp program: jump out of range")
        resolved.append((code, jt, jf, k))
    return resolved


def install_process_filter(libc, own_pid=None) -> str:
    """Install the seccomp filter (x86-64 only: the syscall numbers are x86-64's). A seccomp filter cannot be
    removed and is inherited, so native code is bound by it too. Returns "seccomp" when installed, else "none"."""
    import ctypes
    import os

    if os.uname().machine != "x86_64":
        return "none"
    program = seccomp_program(os.getpid() if own_pid is None else own_pid)

    class Instruction(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Instruction))]

    filters = (Instruction * len(program))(*[Instruction(*row) for row in program])
    fprog = Program(len(program), filters)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        return "none"
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        return "none"
    return "seccomp"


def _write_file(path: str, text: str) -> bool:
    import os

    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        return True
    except OSError:
        return False


def enter_namespaces(libc, network: bool) -> dict:
    """One unshare for user + mount + PID (+ network) namespaces, as root too: the child then holds privileges
    only inside its own user namespace, sees no other process once forked, and keeps the mount namespace it
    needs for the tmpfs (two separate unshares fail for non-root: the second CLONE_NEWUSER gets EPERM).
    Without user namespaces, root still gets the others. Returns the layers entered."""
    import os

    uid, gid = os.getuid(), os.getgid()
    base = CLONE_NEWNS | CLONE_NEWPID | (CLONE_NEWNET if network else 0)
    if libc.unshare(base | CLONE_NEWUSER) == 0:
        _write_file("/proc/self/setgroups", "deny")
        mapped = _write_file("/proc/self/uid_map", f"0 {uid} 1") and _write_file("/proc/self/gid_map", f"0 {gid} 1")
        return {"user": mapped, "mount": True, "pid": True, "network": network}
    if uid == 0 and libc.unshare(base) == 0:
        return {"user": False, "mount": True, "pid": True, "network": network}
    return {"user": False, "mount": False, "pid": False, "network": False}


def seal_filesystem(libc, limits, mount_namespace: bool) -> dict:
    """In the private mount namespace: every mount read-only (mount_setattr, AT_RECURSIVE), then a size- and
    inode-capped tmpfs over the work dir that vanishes with the namespace."""
    import ctypes
    import os

    layers = {"readonly": False, "tmpfs": False}
    if not mount_namespace:
        return layers
    ms_rec, ms_private, ms_nosuid, ms_nodev = 0x4000, 0x40000, 0x2, 0x4
    workdir = os.getcwd()
    if libc.mount(None, b"/", None, ms_rec | ms_private, None) != 0:
        return layers

    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    at_fdcwd, at_recursive, mount_attr_rdonly, sys_mount_setattr = -100, 0x8000, 0x1, 442
    if os.uname().machine in ("x86_64", "aarch64"):  # 442 on both (the unified syscall table)
        attr = MountAttr(mount_attr_rdonly, 0, 0, 0)
        layers["readonly"] = libc.syscall(sys_mount_setattr, at_fdcwd, b"/", at_recursive, ctypes.byref(attr),
                                          ctypes.sizeof(attr)) == 0
    options = f"size={limits['file_bytes'] * 4},nr_inodes={limits['inodes']},mode=0700".encode()
    if libc.mount(b"tmpfs", workdir.encode(), b"tmpfs", ms_nosuid | ms_nodev, ctypes.c_char_p(options)) == 0:
        os.chdir(workdir)  # the old cwd is the directory underneath the mount
        layers["tmpfs"] = True
    return layers


def private_proc(libc) -> str:
    """Run by PID 1 of the new namespace: a /proc that shows only this namespace ("private"); where the kernel
    refuses that, an empty read-only tmpfs over /proc ("hidden"); else "host"."""
    import ctypes

    ms_nosuid, ms_nodev, ms_noexec, ms_rdonly = 0x2, 0x4, 0x8, 0x1
    if libc.mount(b"proc", b"/proc", b"proc", ms_nosuid | ms_nodev | ms_noexec, None) == 0:
        return "private"
    if libc.mount(b"tmpfs", b"/proc", b"tmpfs", ms_nosuid | ms_nodev | ms_noexec | ms_rdonly,
                  ctypes.c_char_p(b"size=4k,mode=0555")) == 0:
        return "hidden"
    return "host"


def drop_capabilities(libc) -> bool:
    """Clear every capability (the child is root of its user namespace until here)."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    pr_capbset_drop, pr_cap_ambient, pr_cap_ambient_clear_all = 24, 47, 4
    for capability in range(64):
        libc.prctl(pr_capbset_drop, capability, 0, 0, 0)
    libc.prctl(pr_cap_ambient, pr_cap_ambient_clear_all, 0, 0, 0)
    return libc.capset(ctypes.byref(header), data) == 0


def encode(value, depth=0):
    """Plain data for JSON: scalars as themselves, others tagged ["l"|"t"|"s"|"f"|"d"|"b"|"y"|"c"|"i"|"g"|"q"|"m", ...]
    (q: Fraction, m: Decimal, g: an iterator's items).
    Subclasses are sent as their base type's data (through unbound base methods, which they cannot override);
    anything else raises TypeError and fails the test."""
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is float:
        return value
    if kind is int:
        return value if -(1 << 512) < value < (1 << 512) else ["i", int.__format__(value, "x")]
    if depth > 100:
        raise ValueError("value nested too deeply to send")
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return encode(int.__add__(value, 0), depth)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, complex):
        return ["c", complex.__getattribute__(value, "real"), complex.__getattribute__(value, "imag")]
    if isinstance(value, bytes):
        return ["b", bytes.hex(value)]
    if isinstance(value, bytearray):
        return ["y", bytearray.hex(value)]
    depth += 1
    if isinstance(value, list):
        return ["l"] + [encode(item, depth) for item in list.__iter__(value)]
    if isinstance(value, tuple):
        return ["t"] + [encode(item, depth) for item in tuple.__iter__(value)]
    if isinstance(value, set):
        return ["s"] + [encode(item, depth) for item in set.__iter__(value)]
    if isinstance(value, frozenset):
        return ["f"] + [encode(item, depth) for item in frozenset.__iter__(value)]
    if isinstance(value, dict):
        out = ["d"]
        for key, item in dict.items(value):
            out += [encode(key, depth), encode(item, depth)]
        return out
    if kind is type({}.keys()) or kind is type({}.items()):  # set-like views compare as sets
        return ["s"] + [encode(item, depth) for item in value]
    if kind.__module__ == "fractions" and kind.__name__ == "Fraction":
        return ["q", encode(value.numerator, depth), encode(value.denominator, depth)]
    if kind.__module__ in ("decimal", "_decimal", "_pydecimal") and kind.__name__ == "Decimal":
        return ["m", str.__str__(str(value))]
    if hasattr(kind, "__next__") and hasattr(kind, "__iter__"):
        # An iterator (generator, map, zip ...): its items, rebuilt as a one-shot iterator by the parent, so that
        # sorted(f(x)) works and f(x) == [...] stays False as in Python.
        return ["g"] + [encode(item, depth) for item in value]
    raise TypeError(f"a {kind.__name__} cannot be sent out of the sandbox (plain data only)")


def to_json(item) -> str:
    """JSON text of plain data (what `encode` returns, and the layers dict). Not the json module: importing it
    costs ~25 ms (json.decoder compiles regular expressions), a third of a short run."""
    from _json import encode_basestring_ascii

    kind = type(item)
    if kind is str:
        return encode_basestring_ascii(item)
    if item is None:
        return "null"
    if kind is bool:
        return "true" if item else "false"
    if kind is int:
        return int.__repr__(item)
    if kind is float:
        if item != item:
            return "NaN"
        if item in (float("inf"), float("-inf")):
            return "Infinity" if item > 0 else "-Infinity"
        return float.__repr__(item)
    if kind is list:
        return "[" + ",".join([to_json(x) for x in item]) + "]"
    if kind is dict:
        return "{" + ",".join([encode_basestring_ascii(str(k)) + ":" + to_json(v) for k, v in item.items()]) + "}"
    raise TypeError(f"cannot write a {kind.__name__} as JSON")


def main():
    import builtins
    import marshal
    import os
    import sys

    config = marshal.loads(sys.stdin.buffer.read())  # plain dict from the parent; marshal is builtin and fast
    result_fd, limits = config["result_fd"], config["limits"]

    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    attempt_prctl = getattr(libc, "prctl", lambda *args: -1)
    attempt_prctl(pr_set_pdeathsig, 9, 0, 0, 0)  # the scorer that started us died (e.g. a killed pool worker)
    if os.getppid() != config["parent_pid"]:
        os._exit(3)
    def attempt(apply, *args, failed):
        # A layer this system cannot apply at all (no such libc function, e.g. not Linux) is reported missing.
        try:
            return apply(*args)
        except (AttributeError, OSError):
            return failed

    no_namespaces = {"user": False, "mount": False, "pid": False, "network": False}
    layers = dict(no_namespaces)
    if config.get("namespaces", True):
        layers = attempt(enter_namespaces, libc, config.get("network_namespace", True), failed=layers)
    layers.update(attempt(seal_filesystem, libc, limits, layers["mount"], failed={"readonly": False, "tmpfs": False}))
    null = os.open("/dev/null", os.O_RDONLY)

    import _signal

    child = 0

    def stop_child(signum, frame):
        # How the parent ends a run: kill the fork and reap it (below) before exiting, so that nothing of the run
        # is left when the parent has reaped this process.
        if child:
            os.kill(child, 9)
        else:
            os._exit(128 + signum)

    _signal.signal(_signal.SIGTERM, stop_child)
    child = os.fork()
    if child:
        os.close(null)
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))

    # PID 1 of the new PID namespace (when it was entered) from here on.
    attempt_prctl(pr_set_pdeathsig, 9, 0, 0, 0)
    _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
    os.dup2(null, 0)  # an empty stdin: input() raises EOFError, as at the end of a file
    os.close(null)
    sys.stdin = open(0, "r", closefd=False)
    layers["proc"] = attempt(private_proc, libc, failed="host") if layers["pid"] and layers["mount"] else "host"
    layers["capabilities_dropped"] = attempt(drop_capabilities, libc, failed=False)
    layers["seccomp"] = attempt(install_process_filter, libc, failed="none") == "seccomp"
    del libc

    import resource

    def limit(kind, value):
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass

    limit(resource.RLIMIT_AS, limits["memory_bytes"])
    limit(resource.RLIMIT_CPU, limits["cpu_seconds"])
    limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    limit(resource.RLIMIT_NPROC, limits["processes"])
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, max(limits["open_files"], result_fd + 1))

    write, stdout, stderr = os.write, sys.stdout, sys.stderr
    pending = []

    def send(item, now=False):
        # Lines are batched (one write at the end, or per 64 KB) so the parent wakes once, not once per test.
        pending.append(to_json(item).encode() + b"\n")
        if now or len(pending) > 64 or len(pending[-1]) > 1 << 12:
            data = b"".join(pending)
            pending.clear()
            while data:
                data = data[write(result_fd, data):]

    def describe(error):
        try:
            return f"{type(error).__name__}: {str(error)[:300]}"
        except BaseException:
            return "unprintable exception"

    if not layers["readonly"] or layers["proc"] == "host" or not layers["user"]:
        arm_fallback_guard(os.getcwd(), proc_visible=layers["proc"] == "host", devices=not layers["user"])
    send(["layers", layers], now=True)  # before any untrusted code runs: the parent trusts the first line

    pristine_builtins = dict(builtins.__dict__)
    pristine_modules = dict(sys.modules)
    namespace = {"__name__": "__sandbox__", "__builtins__": builtins}
    stage = "program"
    try:
        exec(compile(config["program"], "<program>", "exec"), namespace)
        stage = "setup"
        exec(compile(config["setup"], "<setup>", "exec"), namespace)
        program_error = ""
    except BaseException as error:  # SystemExit and KeyboardInterrupt included: no early way out
        program_error = f"{stage}: {describe(error)}"
    if program_error:
        send(["program_error", program_error])
    else:
        for name, module in pristine_modules.items():
            sys.modules[name] = module  # undo modules the program replaced
        # Tests see the program's globals as in the reference harnesses, except builtin names that the task's
        # reference does not define itself: those resolve to the pristine builtins (a program that defines
        # `type` or `int` cannot change what `type(x) is int` means).
        own = frozenset(config.get("own_builtins", ()))
        test_globals = {k: v for k, v in namespace.items() if k not in pristine_builtins or k in own}
        for index, test in enumerate(config["tests"]):
            scope = dict(test_globals)
            scope["__builtins__"] = dict(pristine_builtins)
            if test[0] == "in_process":
                try:
                    exec(compile(test[1], f"<test {index}>", "exec"), scope)
                    send([index, "ok"])
                except BaseException as error:
                    send([index, "!", describe(error)])
                continue
            _, preamble, candidate, units = test
            values = []
            try:
                exec(compile(preamble, f"<test {index}>", "exec"), scope)
                if candidate:
                    scope["candidate"] = scope[candidate]
                ready = True
            except BaseException as error:
                ready, why = False, describe(error)
            for expressions in units:
                for source in expressions:
                    if not ready:
                        values.append(["!", why])
                        continue
                    try:
                        values.append(encode(eval(compile(source, f"<test {index}>", "eval"), scope)))
                    except BaseException as error:
                        values.append(["!", describe(error)])
            try:
                send([index, values])
            except BaseException as error:  # e.g. a value too large or a float the encoder refuses
                send([index, [["!", describe(error)]]])
    for stream in (stdout, stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    send(["done"], now=True)
    os._exit(0)


def arm_fallback_guard(workdir, proc_visible, devices):
    """Fallback where a layer could not be applied: refuse, in an audit hook, writes outside the work dir; while
    other processes show in /proc, opening /proc/<pid> paths other than its own and loading ctypes (native code
    would bypass the hook); outside a user namespace (where the kernel refuses block devices by itself), opening
    devices other than null, zero, full, random and urandom. Python level only; the missing layers are counted
    and logged by the parent."""
    import os
    import sys

    own_proc = ("/proc/self", "/proc/thread-self", f"/proc/{os.getpid()}")
    harmless_devices = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
    if proc_visible:  # the harness loaded ctypes: make the program's import go through the hook
        for name in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
            del sys.modules[name]

    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    path_events = frozenset(("os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.chmod", "os.chown",
                             "os.symlink", "os.link", "os.truncate", "os.utime", "os.mkfifo", "os.mknod",
                             "shutil.rmtree", "shutil.copyfile"))
    _isinstance, _int, _bytes, _fspath = isinstance, int, bytes, os.fspath
    _as_str, _decode = str.__add__, bytes.decode

    def inside(path):
        try:
            path = _fspath(path)
            path = _decode(path, "utf-8", "replace") if _isinstance(path, _bytes) else _as_str("", path)
        except BaseException:
            return False
        if ".." in path.split("/"):
            return False
        return not path.startswith("/") or path == workdir or path.startswith(workdir + "/")

    def foreign_proc(path):
        try:
            path = _fspath(path)
            path = _decode(path, "utf-8", "replace") if _isinstance(path, _bytes) else _as_str("", path)
        except BaseException:
            return True
        if not path.startswith("/proc/"):
            return False
        return ".." in path.split("/") or not any(path == p or path.startswith(p + "/") for p in own_proc)

    def device(path):
        try:
            path = _fspath(path)
            path = _decode(path, "utf-8", "replace") if _isinstance(path, _bytes) else _as_str("", path)
        except BaseException:
            return True
        return path.startswith("/dev/") and path not in harmless_devices

    def hook(event, args):
        if event == "open":
            path, flags = args[0], args[2]
            if not _isinstance(path, _int) and (not _isinstance(flags, _int) or flags & write_flags):
                if not inside(path):
                    raise PermissionError(f"sandbox: writing {path!r} is not allowed")
            if proc_visible and not _isinstance(path, _int) and foreign_proc(path):
                raise PermissionError(f"sandbox: opening {path!r} is not allowed")
            if devices and not _isinstance(path, _int) and device(path):
                raise PermissionError(f"sandbox: opening {path!r} is not allowed")
        elif proc_visible and event == "import" and args[0] in ("ctypes", "_ctypes"):
            raise PermissionError("sandbox: ctypes is not allowed on this machine (no PID namespace)")
        elif proc_visible and event.startswith("ctypes."):
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event in path_events:
            for path in args[:2]:
                if path is not None and not _isinstance(path, _int) and not inside(path):
                    raise PermissionError(f"sandbox: {event} on {path!r} is not allowed")

    sys.addaudithook(hook)


if __name__ == "__main__":
    main()
