# The fork-mode zygote, and the isolation of each child it forks. It runs inside the jail before any
# user code, with capabilities it keeps to give each child its own namespaces and mounts: those of
# the jail's user namespace (standard profile), or real root's in the container (container profile,
# where the zygote is uid 0). So nothing here reads request data or runs the script.
#
# How it arrives: only a zygote gets this file. Its source is the "source" field of the zygote's
# set-up line (line 2 of stdin: {"preload": [...], "zygote": {"tmp_mib", "shm_mib", "uid", "gid", "source"}},
# built in src/sandbox/zygote.rs); runner.py compiles it as "<zygote>" into a module of its own and
# calls serve(), which returns only in a forked child, isolated, with the run's fds on 0 to 3. The
# runner then speaks its per-run protocol (runner.py's header) on them.
#
# Protocol with the server, on the control socket (fd 3, a SOCK_SEQPACKET socket; one message each):
#   zygote -> server  "ready" once warm, or "error <why>" (and exit) if it cannot fork safely
#   server -> zygote  "fork" with four fds (SCM_RIGHTS): the run's stdin, stdout, stderr, result fd
#   zygote -> server  "forked <pid>" or "error <why>"; then "exit <code>" (128 + signal if killed)
#                     when that child ends. An empty message (the server closed its end): it exits.
# A child that cannot isolate itself writes why on its stderr and exits 71 before the ready mark.
#
# What lives here: serve() and its loop, the warm-up, the heap in huge pages, the child's isolation
# (_isolate and its steps, _deny_syscalls) and the Linux constants they use. What does not: anything
# of a run (the protocol: runner.py; conversion to JSON, files, the import policy: its modules), nor
# any size (the set-up carries them).
# The constants below that the Rust side repeats are checked against it by src/sandbox/agreement.rs.
import os
import sys

# The control socket's fd: the jail's fd 3, which is the runner's RESULT_FD in a forked child.
CONTROL_FD = 3
# Linux x86_64 numbers for the isolation steps below (Python 3.11 has no os.unshare).
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_DUMPABLE = 4
MADV_COLLAPSE = 25
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
# What the zygote's nsjail policy allows beyond the run policy (mount, unshare, setns), and what
# else undoes isolation if allowed at all: mount, umount2, unshare, setns, pivot_root, chroot.
CHILD_DENIED_SYSCALLS = (165, 166, 272, 308, 155, 161)


def serve(cfg, warm_up_to_json):
    """Serves "fork" requests on the control socket until the server closes it. It never runs user
    code and reads no request data: it only passes four fds to each child it forks. Returns only in
    the forked child, once the child is isolated (see _isolate); the caller (the runner) then takes
    the child's pid as its own. `cfg` is the set-up's "zygote" object; `warm_up_to_json` is the
    runner's conversion to JSON, run once on fixed values (see _warm_up)."""
    import select
    import signal
    import socket

    # What every run imports on its way to main() and back, imported once here instead.
    import inspect, linecache, resource, traceback, types  # noqa: F401, E401

    ctl = socket.socket(fileno=CONTROL_FD)
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    # The zygote's own pid namespace: after each fork it goes back to it (see below).
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    # SIGCHLD wakes the loop through this pipe; the handler itself does nothing.
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    left = _warm_up(warm_up_to_json)
    if left:
        ctl.send(b"error the warm-up " + left.encode() + b"; every run would see it")
        os._exit(70)
    # The preloaded modules' objects go to the GC's permanent generation: a child's collections
    # would otherwise visit (and so copy, page by page) all of the zygote's memory.
    import gc

    gc.collect()
    gc.freeze()
    _collapse_heap(libc)
    # fork() copies only the calling thread: a thread holding a lock would leave it locked forever.
    if len(os.listdir("/proc/self/task")) != 1:
        ctl.send(b"error the zygote has threads after its imports; it cannot fork safely")
        os._exit(70)
    ctl.send(b"ready")
    poller = select.poll()
    poller.register(ctl, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    child = None
    while True:
        ready = [fd for fd, _ in poller.poll()]
        try:
            os.read(wake_r, 4096)
        except BlockingIOError:
            pass
        # The zygote is pid 1 of its jail: it reaps its child and any orphan of a killed run.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == child:
                child = None
                code = os.waitstatus_to_exitcode(status)
                ctl.send(b"exit %d" % (code if code >= 0 else 128 - code))
        # Only when poll said so: a recv that blocks would hold off the reaping above (and
        # Python 3.11's recv_fds drops its flags argument, so MSG_DONTWAIT cannot be relied on).
        if ctl.fileno() not in ready:
            continue
        msg, fds, _, _ = socket.recv_fds(ctl, 64, 4)
        if not msg:
            os._exit(0)  # the server closed its end: this zygote is retired
        if msg != b"fork" or len(fds) != 4 or child is not None:
            for fd in fds:
                os.close(fd)
            ctl.send(b"error unexpected message")
            continue
        # The child is pid 1 of a new pid namespace: the run sees none of the zygote's processes,
        # and the whole run dies with its pid 1. unshare(CLONE_NEWPID) applies to the next fork
        # only; setns back to the zygote's own namespace makes the next unshare possible again.
        pid, failed = -1, None
        if libc.unshare(CLONE_NEWPID) != 0:
            failed = "unshare(CLONE_NEWPID): errno %d" % ctypes.get_errno()
        else:
            try:
                pid = os.fork()
            except OSError as exc:  # e.g. the pids limit
                failed = "fork: %s" % exc
            if pid == 0:
                # Not close(): the socket's fd number is about to be the run's result fd.
                ctl.detach()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _isolate(cfg, fds)
                return
            if libc.setns(own_pid_ns, CLONE_NEWPID) != 0:
                os._exit(72)  # cannot fork a sandbox again: the server replaces this zygote
        for fd in fds:
            os.close(fd)
        if failed:
            ctl.send(b"error " + failed.encode())
            continue
        child = pid
        ctl.send(b"forked %d" % pid)


def _warm_up(to_json):
    """Our own fixed code, run once in the zygote, never user code: the first DataFrame, groupby,
    JSON conversion or figure in a process loads lazily imported modules and fills caches, which
    would otherwise cost every forked run several milliseconds (a figure, tens of them). Returns
    what it left that a run could see (see _warm_up_plots), or None."""
    try:
        if "pandas" in sys.modules:
            pd = sys.modules["pandas"]
            df = pd.DataFrame({"g": [1, 2, 1], "v": [1.0, 2.0, 3.0], "s": ["a", "b", "c"]})
            df.groupby("g").v.sum().to_dict()
            df.groupby("g").agg({"v": ["mean", "max"]})
            df.describe()
            to_json(df)
            to_json(df.v)
        if "numpy" in sys.modules:
            np = sys.modules["numpy"]
            a = np.arange(16.0).reshape(4, 4)
            to_json((a @ a).sum(axis=0))
            np.linalg.svd(a)
    except Exception:  # a warm-up that fails costs speed, not correctness
        pass
    if "matplotlib.pyplot" in sys.modules:
        return _warm_up_plots()
    return None


def _warm_up_plots():
    """One throw-away figure (and a seaborn one), saved as a run's figures are, so that the
    backend, font metrics and PNG encoder are warm before gc.freeze(). A run must see none of it
    (SECURITY.md): no open figure, rcParams unchanged, and an empty font cache, whose FreeType
    objects would keep font files open (an fd closed under them in each child, its offset shared
    by every run). Returns what was left, if anything: the zygote then does not serve."""
    import io

    matplotlib = sys.modules["matplotlib"]
    plt = sys.modules["matplotlib.pyplot"]
    before = dict(matplotlib.rcParams)
    try:
        with matplotlib.rc_context():
            fig, ax = plt.subplots()
            ax.plot(range(10), [x * x for x in range(10)], label="warm-up")
            ax.set_title("warm-up")
            ax.legend()
            fig.savefig(io.BytesIO(), format="png")
            if "seaborn" in sys.modules:
                np = sys.modules["numpy"]
                x = np.linspace(0.0, 1.0, 20)
                sys.modules["seaborn"].scatterplot(x=x, y=x, hue=x > 0.5)
                plt.gcf().savefig(io.BytesIO(), format="png")
    except Exception:  # a warm-up that fails costs speed, not correctness
        pass
    finally:
        plt.close("all")
        sys.modules["matplotlib.font_manager"]._get_font.cache_clear()
    if plt.get_fignums():
        return "left figures open"
    if dict(matplotlib.rcParams) != before:
        return "changed rcParams"
    return None


def _collapse_heap(libc):
    """Backs the anonymous heap with transparent huge pages now (MADV_COLLAPSE, Linux 6.1+): a
    fork copies, and a child's exit tears down, one entry per 2 MiB instead of 512 (about a fifth
    cheaper: bench/README.md). Not MADV_HUGEPAGE: a run's own allocations stay in small pages.
    Best effort."""
    import ctypes

    madvise = libc.madvise
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    huge = 1 << 21
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return
    for line in lines:
        fields = line.split()
        # Private, writable and anonymous: the heap and the mappings of the allocators' arenas.
        if len(fields) < 5 or not fields[1].startswith("rw") or fields[1][3] != "p":
            continue
        if len(fields) > 5 and fields[5] != "[heap]":
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        start = (start + huge - 1) & ~(huge - 1)
        end &= ~(huge - 1)
        if end > start:
            madvise(start, end - start, MADV_COLLAPSE)


def _isolate(cfg, fds):
    """Turns a fresh fork of the zygote, pid 1 of a new pid namespace, into a sandbox as tight as a
    cold jail, before any user code: new mount, network, IPC and UTS namespaces; its own tmpfs on
    /tmp and /dev/shm and its own /proc; no capabilities, bounding and ambient sets included; the
    run's uid and gid (cfg), no supplementary group; no_new_privs and a seccomp filter on top of the
    zygote's that takes back mount, unshare and setns; then all of it read back from
    /proc/self/status. Any failure ends the child before it reports ready (fail closed)."""
    try:
        _isolate_steps(cfg, fds)
    except BaseException as exc:
        try:
            os.write(2, ("sandbox isolation failed: %s: %s\n" % (type(exc).__name__, exc)).encode())
        finally:
            os._exit(71)


def _isolate_steps(cfg, fds):
    import ctypes
    import struct

    # The run's stdin, stdout, stderr and result fd, and nothing else of the zygote's (above all,
    # not its control socket). The received fds are all above 3: 0 to 3 were open in the zygote.
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(4, 1 << 16)
    libc = ctypes.CDLL(None, use_errno=True)

    def check(ret, what):
        if ret != 0:
            err = ctypes.get_errno()
            raise OSError(err, "%s: %s" % (what, os.strerror(err)))

    if os.getpid() != 1:
        raise RuntimeError("the child is not pid 1 of its own pid namespace")
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
    # Mounts made below must not propagate back into the zygote's mount namespace.
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")

    flags = MS_NOSUID | MS_NODEV
    tmp = ("size=%dm,mode=1777" % cfg["tmp_mib"]).encode()
    check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", flags, tmp), "mount /tmp")
    shm = ("size=%dm,mode=1777" % cfg["shm_mib"]).encode()
    check(libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", flags, shm), "mount /dev/shm")
    check(libc.mount(b"proc", b"/proc", b"proc", flags | MS_NOEXEC, None), "mount /proc")
    # The OOM killer must pick the run, never the zygote, whose loss would cost the next request a
    # third of a second. Raising the score needs no privilege, but a writable /proc.
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
    check(libc.mount(None, b"/proc", None, MS_REMOUNT | MS_RDONLY | flags | MS_NOEXEC, None), "remount /proc")
    os.chdir("/tmp")  # the old cwd is the zygote's /tmp, under the new mount

    # Capabilities, then identity, then the filter, in that order: dropping from the bounding set
    # needs CAP_SETPCAP and the group and uid changes need CAP_SETGID and CAP_SETUID, which the
    # uid change may itself take away (from root to the run's uid the kernel clears the permitted
    # and effective sets, unless securebits say otherwise); capset clears whatever is left. Under
    # the container profile the zygote is real root of the container (nsjail.rs): these steps are
    # what makes its child an unprivileged run.
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the kernel's last capability
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
    uid, gid = cfg["uid"], cfg["gid"]
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))  # _LINUX_CAPABILITY_VERSION_3
    check(libc.capset(header, ctypes.create_string_buffer(24)), "capset")
    # A change of uid makes the kernel mark a process non-dumpable, and its /proc/self entries then
    # belong to root: the run could not list its own fds or namespaces, as a cold jail's run (made
    # by execve as its uid) can. Nothing it holds is privileged any more (its only fds are the
    # run's four, its memory is the zygote's, which never held request data), so it is made
    # dumpable again: only processes of its own uid, its own run's, may then inspect it.
    check(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
    # nsjail set it for the zygote and a fork inherits it; set again so that this step never
    # depends on how the zygote was started. The filter below needs it (it has no CAP_SYS_ADMIN).
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _deny_syscalls(libc, check, CHILD_DENIED_SYSCALLS)

    # Trust nothing above: the kernel's own account of this process decides (fail closed).
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    for key, want in (("Uid", [uid] * 4), ("Gid", [gid] * 4), ("Groups", [])):
        if [int(x) for x in status[key].split()] != want:
            raise RuntimeError("%s is %r after the drop to %d:%d" % (key, status[key].strip(), uid, gid))
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        if int(status[key], 16) != 0:
            raise RuntimeError("%s is %s after dropping capabilities" % (key, status[key].strip()))
    if status["NoNewPrivs"].strip() != "1" or status["Seccomp"].strip() != "2" or int(status["Seccomp_filters"]) < 2:
        raise RuntimeError("no_new_privs or the seccomp filters are missing")

    # Forks share the zygote's random state: each run gets its own (the random module reseeds
    # itself after a fork; numpy's global generator does not).
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()


def _deny_syscalls(libc, check, numbers):
    """Adds a classic-BPF seccomp filter: x86_64 only (anything else is killed), x32 calls and
    `numbers` fail with EPERM, the rest is left to the filters already installed."""
    import ctypes
    import struct

    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, eperm, kill = 0x7FFF0000, 0x00050001, 0x80000000
    n = len(numbers)
    prog = [
        (ld_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, AUDIT_ARCH_X86_64),
        (ret, 0, 0, kill),
        (ld_abs, 0, 0, 0),  # seccomp_data.nr
        (jge, n + 1, 0, X32_SYSCALL_BIT),
    ]
    prog += [(jeq, n - i, 0, nr) for i, nr in enumerate(numbers)]
    prog += [(ret, 0, 0, allow), (ret, 0, 0, eperm)]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in prog))
    fprog = ctypes.create_string_buffer(struct.pack("HxxxxxxQ", len(prog), ctypes.addressof(code)))
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0), "seccomp")

