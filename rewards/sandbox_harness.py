"""zero-rl sandbox harness. Runs inside the sandbox child (`python -I -S -c <this file's text>`); never imported
by the trainer.

Protocol: the parent writes one marshalled dict to stdin: {"nonce", "result_fd", "parent_pid", "program", "setup",
"tests", "limits", "network_namespace"}. The harness enters its namespaces, installs the seccomp filter, applies
the rlimits, arms an audit hook, runs `program` then `setup` in one namespace, then each test (as its own exec)
with builtins snapshotted before the untrusted program ran, and finally writes
`<nonce> <network> <processes> <workdir kind> <ran> <passed> <total> <first error repr>` to `result_fd` and
calls os._exit(0). The parent counts a pass only with that exact nonce line AND exit status 0, so an early exit,
a crash, a kill or text printed by the program itself can never pass. rewards/code_exec.py says what is and is
not covered.
"""


def install_process_filter(libc) -> str:
    """Forbid, in the kernel, creating processes and running programs: fork, vfork, clone without CLONE_THREAD
    and execve(at) fail with EPERM; clone3 fails with ENOSYS so glibc falls back to clone for threads, which
    stay allowed. A seccomp-BPF filter cannot be removed and is inherited, so native code cannot fork either.
    x86-64 only (syscall numbers); returns "seccomp" when installed, else "none"."""
    import ctypes
    import os

    if os.uname().machine != "x86_64":
        return "none"  # the filter's syscall numbers are x86-64's
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050001, 0x00050026
    program = [
        (ld, 0, 0, 4),  # 0: arch
        (jeq, 0, 10, 0xC000003E),  # 1: not x86-64 -> allow (12)
        (ld, 0, 0, 0),  # 2: syscall number
        (jge, 9, 0, 0x40000000),  # 3: x32 ABI -> EPERM (13)
        (jeq, 8, 0, 57),  # 4: fork
        (jeq, 7, 0, 58),  # 5: vfork
        (jeq, 6, 0, 59),  # 6: execve
        (jeq, 5, 0, 322),  # 7: execveat
        (jeq, 5, 0, 435),  # 8: clone3 -> ENOSYS (14)
        (jeq, 0, 2, 56),  # 9: clone? else allow (12)
        (ld, 0, 0, 16),  # 10: clone flags (low 32 bits of args[0])
        (jset, 0, 1, 0x00010000),  # 11: CLONE_THREAD -> allow, else EPERM
        (ret, 0, 0, allow),  # 12
        (ret, 0, 0, eperm),  # 13
        (ret, 0, 0, enosys),  # 14
    ]

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


def private_tmpfs(libc, limits) -> str:
    """Mount a size- and inode-capped tmpfs over the work dir in a private mount namespace: disk use is bounded
    and the files vanish with the namespace when the child dies, so the parent's cleanup cannot be slowed by a
    million small files. Returns "tmpfs", or "disk" where mount namespaces are not available."""
    import ctypes
    import os

    clone_newns, ms_rec, ms_private, ms_nosuid, ms_nodev = 0x00020000, 0x4000, 0x40000, 0x2, 0x4
    flags = clone_newns if os.geteuid() == 0 else clone_newns | 0x10000000  # + CLONE_NEWUSER
    workdir = os.getcwd()
    if libc.unshare(flags) != 0:
        return "disk"
    if libc.mount(None, b"/", None, ms_rec | ms_private, None) != 0:
        return "disk"
    options = f"size={limits['file_bytes'] * 4},nr_inodes={limits['inodes']},mode=0700".encode()
    if libc.mount(b"tmpfs", workdir.encode(), b"tmpfs", ms_nosuid | ms_nodev, ctypes.c_char_p(options)) != 0:
        return "disk"
    os.chdir(workdir)  # the old cwd is the directory underneath the mount
    return "tmpfs"


def main():
    import builtins
    import marshal
    import os
    import sys

    config = marshal.loads(sys.stdin.buffer.read())  # plain dict from the parent; marshal is builtin and fast
    sys.stdin.close()
    os.close(0)
    nonce = config.pop("nonce").encode()
    result_fd = config["result_fd"]
    limits = config["limits"]
    _write, _exit, _exec, _compile = os.write, os._exit, exec, compile
    _isinstance, _str, _int, _type = isinstance, str, int, type
    _realpath, _getcwd = os.path.realpath, os.getcwd
    _BaseException, _len, _dict, _any = BaseException, len, dict, any

    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    # If the scorer that started us dies (e.g. a pool worker killed on its own timeout), die with it.
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, 9, 0, 0, 0)
    if os.getppid() != config["parent_pid"]:
        _exit(3)
    # Network: a fresh network namespace has only a downed loopback, so nothing is reachable even through
    # native code. Root can create one directly; otherwise try an unprivileged user namespace.
    network = "none"
    if config.get("network_namespace", True):
        try:
            clone_newnet, clone_newuser = 0x40000000, 0x10000000
            flags = clone_newnet if os.geteuid() == 0 else clone_newnet | clone_newuser
            if libc.unshare(flags) == 0:
                network = "namespace"
        except (OSError, AttributeError):
            pass

    processes = install_process_filter(libc)
    workdir_kind = private_tmpfs(libc, limits)

    # Importing ctypes again must go through the import hook below (calls through it are audited anyway).
    for name in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
        del sys.modules[name]
    del ctypes, libc

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

    # A signal handler receives the interrupted frame, which would expose this function's locals.
    import _signal
    import signal

    def no_signal_handlers(*args, **kwargs):
        raise PermissionError("sandbox: installing signal handlers is not allowed")

    _signal.signal = signal.signal = no_signal_handlers

    workdir = _realpath(_getcwd())
    # Read access: the interpreter's own tree (stdlib imports), the work dir and a few harmless device files.
    read_roots = tuple(_realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    read_roots += (workdir, "/usr/lib", "/usr/share/zoneinfo", "/etc/localtime", "/dev/null", "/dev/urandom",
                   "/dev/zero")
    blocked_events = frozenset((
        "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "os.exec", "subprocess.Popen",
        "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill", "os.chdir", "os.chroot", "os.setuid",
        "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
        "sys.addaudithook", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__",
        "resource.setrlimit", "resource.prlimit", "object.__getattr__",
        "function.__new__",
    ))
    blocked_prefixes = ("socket.", "ctypes.", "_ctypes.", "mmap.")
    blocked_imports = frozenset(("ctypes", "_ctypes", "_posixsubprocess", "_signal", "signal", "multiprocessing",
                                 "_multiprocessing", "socket", "_socket", "gc", "_xxsubinterpreters"))
    path_events = frozenset(("os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.chmod", "os.chown",
                             "os.symlink", "os.link", "os.truncate", "os.utime", "os.mkfifo", "os.mknod",
                             "os.setxattr", "os.removexattr", "shutil.rmtree", "shutil.copyfile"))
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    _fspath, _bytes, _tuple = os.fspath, bytes, tuple
    _as_str, _decode = str.__add__, bytes.decode  # unbound: a str/bytes subclass cannot override them

    def inside(path, roots):
        # String checks only (no os.path code, whose module globals the program could rebind), on an exact str
        # copy (a str subclass could override startswith). No ".." and no way to create a symlink pointing out
        # (os.symlink is checked) make a prefix test sufficient.
        try:
            path = _fspath(path)
            path = _decode(path, "utf-8", "replace") if _isinstance(path, _bytes) else _as_str("", path)
        except _BaseException:
            return False
        if ".." in path.split("/"):
            return False
        if not path.startswith("/"):
            return workdir in roots
        return _any(path == root or path.startswith(root + "/") for root in roots)

    def hook(event, args):
        # Only locals and closure values here: the program may rebind builtins and module globals.
        if event == "sys._getframe":
            # ValueError is what typing, collections.namedtuple and enum already catch from sys._getframe.
            raise ValueError("sandbox: sys._getframe is not allowed")
        if event in blocked_events or event.startswith(blocked_prefixes):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "import":
            if args[0] in blocked_imports:
                raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
        elif event == "open":
            path, mode, flags = args[0], args[1], args[2]
            if _isinstance(path, _int):
                return
            # flags is an int made by C for open() and os.open alike; anything else counts as writing.
            writing = not _isinstance(flags, _int) or bool(flags & write_flags)
            # os.open (mode None) may yield directory fds usable as dir_fd, so it stays inside the work dir.
            roots = (workdir,) if writing or mode is None else read_roots
            if not inside(path, roots):
                raise PermissionError(f"sandbox: opening {path!r} ({'write' if writing else 'read'}) is not allowed")
        elif event in path_events:
            for path in args[:2]:
                if not _isinstance(path, _int) and path is not None and not inside(path, (workdir,)):
                    raise PermissionError(f"sandbox: {event} on {path!r} is not allowed")
        elif event == "os.listdir" or event == "os.scandir":
            if args and args[0] is not None and not _isinstance(args[0], _int) and not inside(args[0], read_roots):
                raise PermissionError(f"sandbox: listing {args[0]!r} is not allowed")

    pristine_builtins = _dict(builtins.__dict__)
    pristine_modules = _dict(sys.modules)
    tests = _tuple(config["tests"])
    total, ran, passed, error_text = _len(tests), 0, 0, ""

    def describe(error):
        try:
            return f"{_type(error).__name__}: {_str(error)[:300]}"
        except _BaseException:
            return "unprintable exception"

    # From here on the harness calls only C functions it captured above: library code written in Python reads
    # module globals the program could rebind (json, os.path ...).
    sys.addaudithook(hook)
    namespace = {"__name__": "__sandbox__", "__builtins__": builtins}
    stage = "program"
    try:
        _exec(_compile(config["program"], "<program>", "exec"), namespace)
        stage = "setup"
        _exec(_compile(config["setup"], "<setup>", "exec"), namespace)
        program_ok = True
    except _BaseException as error:  # SystemExit and KeyboardInterrupt included: no early way out
        error_text = f"{stage}: {describe(error)}"
        program_ok = False
    if program_ok:
        # Undo what the program did to shared state the tests rely on: the builtins module, sys.modules entries.
        for name, module in pristine_modules.items():
            sys.modules[name] = module
        # Tests see the program's globals as in the reference harnesses (MBPP 126 defines `sum`).
        test_globals = _dict(namespace)
        while ran < total:
            scope = _dict(test_globals)
            scope["__builtins__"] = _dict(pristine_builtins)
            try:
                _exec(_compile(tests[ran], f"<test {ran}>", "exec"), scope)
                passed += 1
            except _BaseException as error:
                if not error_text:
                    error_text = f"test {ran}: {describe(error)}"
            ran += 1
    try:
        line = nonce + f" {network} {processes} {workdir_kind} {ran} {passed} {total} {error_text!r}\n".encode()
        while line:
            line = line[_write(result_fd, line):]
    finally:
        _exit(0)


if __name__ == "__main__":
    main()
