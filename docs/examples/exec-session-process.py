#!/usr/bin/env python3
"""A session backend for gc's exec session protocol (docs/exec-session.md): each session is a
plain process with its output in a log file and a FIFO as its stdin. Python 3 standard library
only. Point a City at it:

    spec:
      session:
        backend: exec
        command: scripts/exec-session-process.py

State lives in $GC_EXEC_STATE_DIR, else .gc/exec-sessions/ under the directory gc runs it in
(the city directory): one directory per session holding state.json (created, meta, mark),
pid (the program's pid), exit (its exit status once it ended), output.log and the FIFO `in`.

Each session's program runs in a session and process group of its own under a small
supervisor process that waits for it and records its exit status, so the status is known
after the script that started it has long exited.
"""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

EXIT_UNSUPPORTED, EXIT_NOT_FOUND, EXIT_EXISTS = 2, 3, 4


def state_root():
    return os.environ.get("GC_EXEC_STATE_DIR") or os.path.join(".gc", "exec-sessions")


def session_dir(name):
    # gc validates names before calling; refuse anything path-like all the same.
    if not name or "/" in name or name.startswith("."):
        fail(f"invalid session name {name!r}")
    return os.path.join(state_root(), name)


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def write_json(path, value):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def alive(d):
    pid = read_int(os.path.join(d, "pid"))
    return pid is not None and not os.path.exists(os.path.join(d, "exit")) and pid_alive(pid)


def supervise(d, request, mark):
    """Runs in the detached supervisor: starts the program, waits, records its status."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, 65536)  # gc's pipes and the start lock stay with the script, not here
    fifo = os.open(os.path.join(d, "in"), os.O_RDWR)  # held open: the program never sees EOF
    log = os.open(os.path.join(d, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    env = {} if request.get("cleanEnv") else dict(os.environ)
    if request.get("cleanEnv"):
        for name in ("TERM", "COLORTERM"):
            if name in os.environ:
                env[name] = os.environ[name]
    env.pop("GC_EXEC_STATE_DIR", None)
    env.update(request.get("env") or {})
    env["GC_SESSION_MARK"] = mark
    argv = request["argv"]
    try:
        child = subprocess.Popen(argv, cwd=request["workDir"], env=env, stdin=fifo, stdout=log,
                                 stderr=log, start_new_session=True)
    except OSError as e:
        os.write(log, f"{argv[0]}: {e.strerror}\n".encode())
        write_pid_and_exit(d, os.getpid(), 127)
        os._exit(0)
    write_json_atomic_int(os.path.join(d, "pid"), child.pid)
    code = child.wait()
    write_json_atomic_int(os.path.join(d, "exit"), 128 - code if code < 0 else code)
    os._exit(0)


def write_json_atomic_int(path, value):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(str(value))
    os.replace(tmp, path)


def write_pid_and_exit(d, pid, code):
    write_json_atomic_int(os.path.join(d, "exit"), code)
    write_json_atomic_int(os.path.join(d, "pid"), pid)


def op_start(request):
    name = request["name"]
    d = session_dir(name)
    os.makedirs(state_root(), mode=0o700, exist_ok=True)
    with lock(name):
        if os.path.isdir(d):
            if alive(d):
                fail(f"session {name} exists", EXIT_EXISTS)
            shutil.rmtree(d)  # a dead session is replaced
        os.mkdir(d, 0o700)
        mark = f"{os.path.abspath(d)}/{uuid.uuid4()}"
        write_json(os.path.join(d, "state.json"),
                   {"created": time.time(), "meta": request.get("meta") or {}, "mark": mark})
        os.mkfifo(os.path.join(d, "in"), 0o600)
        first = os.fork()
        if first == 0:
            os.setsid()
            if os.fork() == 0:
                supervise(d, request, mark)
            os._exit(0)
        os.waitpid(first, 0)
    deadline = time.time() + 10
    while not os.path.exists(os.path.join(d, "pid")):
        if time.time() > deadline:
            fail(f"session {name} did not start within 10s")
        time.sleep(0.01)


def marked_processes(mark):
    needle = f"GC_SESSION_MARK={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            pass
    return found


def signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def op_stop(request):
    name = request["name"]
    d = session_dir(name)
    if not os.path.isdir(d):
        return
    pid = read_int(os.path.join(d, "pid"))
    mark = (read_json(os.path.join(d, "state.json"), {}) or {}).get("mark")
    if pid is not None and alive(d):
        signal_group(pid, signal.SIGTERM)
        deadline = time.time() + request.get("graceMs", 5000) / 1000
        while alive(d) and time.time() < deadline:
            time.sleep(0.02)
        signal_group(pid, signal.SIGKILL)
    for _ in range(3):  # daemons that left the group, found by the mark they inherited
        stray = marked_processes(mark) if mark else []
        if not stray:
            break
        for p in stray:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)
    deadline = time.time() + 5
    while pid is not None and pid_alive(pid) and time.time() < deadline:
        time.sleep(0.01)
    shutil.rmtree(d, ignore_errors=True)


def describe(name):
    d = session_dir(name)
    state = read_json(os.path.join(d, "state.json"))
    if state is None:
        return None
    log = os.path.join(d, "output.log")
    is_alive = alive(d)
    return {
        "name": name,
        "alive": is_alive,
        "pid": read_int(os.path.join(d, "pid")),
        "exitStatus": None if is_alive else read_int(os.path.join(d, "exit")),
        "created": state.get("created"),
        "lastActivity": os.path.getmtime(log) if os.path.exists(log) else state.get("created"),
        "attached": False,
        "meta": state.get("meta") or {},
    }


def op_list(request):
    prefix = request.get("prefix", "")
    try:
        names = sorted(n for n in os.listdir(state_root()) if n.startswith(prefix))
    except FileNotFoundError:
        names = []
    sessions = [s for s in (describe(n) for n in names if not n.startswith(".")) if s]
    return {"sessions": sessions}


def existing(name):
    d = session_dir(name)
    if not os.path.exists(os.path.join(d, "state.json")):
        fail(f"no session {name}", EXIT_NOT_FOUND)
    return d


def op_peek(request):
    d = existing(request["name"])
    try:
        with open(os.path.join(d, "output.log"), errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    while lines and not lines[-1].strip():
        lines.pop()
    n = max(0, int(request.get("lines", 40)))
    return {"output": "\n".join(lines[-n:] if n else []) + ("\n" if lines and n else "")}


def op_nudge(request):
    d = existing(request["name"])
    if not alive(d):
        fail(f"session {request['name']} is not running")
    fd = os.open(os.path.join(d, "in"), os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, (request["text"] + "\n").encode())
    finally:
        os.close(fd)


def op_set_meta(request):
    name = request["name"]
    d = existing(name)
    with lock(name):
        path = os.path.join(d, "state.json")
        state = read_json(path, {})
        state.setdefault("meta", {})[request["key"]] = request["value"]
        write_json(path, state)


class lock:
    """An exclusive lock per session name, beside the session directories."""

    def __init__(self, name):
        os.makedirs(state_root(), mode=0o700, exist_ok=True)
        self.path = os.path.join(state_root(), f".{name}.lock")

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        os.close(self.fd)


OPERATIONS = {
    "start": op_start,
    "stop": op_stop,
    "list": op_list,
    "peek": op_peek,
    "nudge": op_nudge,
    "set-meta": op_set_meta,
}


def main():
    if len(sys.argv) != 2:
        fail("usage: exec-session-process.py OPERATION  (a JSON request on stdin)")
    operation = OPERATIONS.get(sys.argv[1])
    if operation is None:
        fail(f"unsupported operation {sys.argv[1]}", EXIT_UNSUPPORTED)
    try:
        request = json.load(sys.stdin)
    except ValueError as e:
        fail(f"the request is not JSON: {e}")
    answer = operation(request)
    if answer is not None:
        json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
