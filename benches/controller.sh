#!/usr/bin/env bash
# The controller on real tmux, against issue 19's goals, each beside a baseline in one run:
#
#   1. converge: `gc apply --wait` of N agents for each N in SIZES (no controller running:
#      apply reconciles inline), against a shell loop doing the same work by hand on another
#      tmux socket: `tmux new-session -d` of the same agent program, then wait for its pane to
#      show the ready prompt, one agent after the other. Goal: <= 1.0x the loop.
#   2. idle: the controller of a converged IDLE_AGENTS-agent city (`gc apply`, `gc start`)
#      over IDLE_SECONDS: its CPU time (utime+stime, and its tmux clients' cutime+cstime,
#      from /proc/PID/stat) plus the tmux server's, and the controller's RSS at the end.
#      Goals: controller + its tmux clients + tmux server < 1% of one core; RSS < 50 MB.
#   3. look: `gc status` and `gc session list` on that idle city, beside `tmux list-panes -a`
#      on its socket (the floor any answer needs). Goal: < 50 ms each.
#   4. restart: with the controller running one agent, KILLS times kill the agent's program
#      (the pane's `gc internal exec` launcher and its child, SIGKILL), and time until the
#      session has a new live pane whose metadata says ready. Goals: median <= 100 ms, max
#      <= 250 ms. The bench City sets `controller.crashLoop.window: 1s` and kills at least
#      1.5 s after the last restart, so every kill is a first crash (restarted without
#      backoff): this measures detection + restart, not the backoff policy. A breakdown from
#      the events' millisecond timestamps (kill → session.crashed → session.started →
#      session.ready) shows what the time goes to.
#
#   5. dashboard: on another idle IDLE_AGENTS-agent city, IDLE_SECONDS with no dashboard, then
#      IDLE_SECONDS with `gc dashboard` serving CLIENTS clients (each loaded what the page loads,
#      then holds the events stream open, as an open page does): the dashboard's CPU time, and
#      the controller's and tmux server's in both windows. Goal: the dashboard and what it
#      adds to them < 1% of one core.
#
#   benches/controller.sh                                   # exit 0 whether goals are met or not
#   SIZES="500 1000" RUNS=1 PARTS=converge benches/controller.sh   # how converge grows (by hand)
#
# Each part runs its city in a mktemp directory with its own tmux sockets (gcb-<pid>-…); an
# EXIT trap stops its controller (`gc stop`, then kill -9), kills the tmux servers and removes
# the directory (KEEP=1 keeps it).
# Knobs (environment): RUNS (default 3) converge runs per side and size, SIZES ("50 200"),
# IDLE_AGENTS (200), IDLE_SECONDS (60), KILLS (20), CLIENTS (10), HYPERFINE (path to
# hyperfine), PARTS ("converge idle restart dashboard": which parts to run; idle includes look).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
unset GC_CITY GC_LOG
RUNS=${RUNS:-3}
SIZES=${SIZES:-50 200}
IDLE_AGENTS=${IDLE_AGENTS:-200}
IDLE_SECONDS=${IDLE_SECONDS:-60}
KILLS=${KILLS:-20}
CLIENTS=${CLIENTS:-10}
HYPERFINE=${HYPERFINE:-hyperfine}
PARTS=" ${PARTS:-converge idle restart dashboard} "
part() { [[ $PARTS == *" $1 "* ]]; }
for tool in tmux "$HYPERFINE" curl; do
    if ! command -v "$tool" >/dev/null; then
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            apt-get install -y -qq "$tool" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$tool"; } >/dev/null 2>&1
        fi
        command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)" >&2; exit 2; }
    fi
done

cargo build --release --quiet
GC="$ROOT/target/release/gc"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gc-controller-bench.XXXXXX")
SOCK="gcb-$$"
CITIES=()
HELPERS=() # process groups to kill (the dashboard, its clients)
cleanup() {
    local city pid
    for pid in "${HELPERS[@]}"; do kill -9 -- "-$pid" 2>/dev/null || true; done
    for city in "${CITIES[@]}"; do
        pid=$(cat "$city/.gc/controller.lock" 2>/dev/null || true)
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            timeout 30 "$GC" --city "$city" stop --timeout 20s >/dev/null 2>&1 || true
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        fi
    done
    for s in "$SOCK-converge" "$SOCK-raw" "$SOCK-idle" "$SOCK-kill" "$SOCK-dash"; do
        tmux -L "$s" kill-server 2>/dev/null || true
    done
    if [[ -n ${KEEP:-} ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

AGENT_SCRIPT='#!/usr/bin/env bash
# Answers like an agent CLI behind a "ready> " prompt.
while true; do
  printf "ready> "
  IFS= read -r line || exit 0
  echo "heard $line"
done'

# make_city DIR SOCKET AGENTS [EXTRA CONTROLLER YAML LINES]
make_city() {
    local dir=$1 socket=$2 n=$3 controller=${4:-}
    mkdir -p "$dir/scripts" "$dir/agents"
    CITIES+=("$dir")
    cat >"$dir/city.yaml" <<EOF
apiVersion: gascity.dev/v1alpha1
kind: City
metadata:
  name: bench
spec:
  defaultProvider: probe
  session:
    socket: $socket
    startupTimeout: 20s
  controller:
    shutdownTimeout: 2s
$controller
---
apiVersion: gascity.dev/v1alpha1
kind: Provider
metadata:
  name: probe
spec:
  command: scripts/agent.sh
  readyPromptPrefix: "ready> "
EOF
    printf '%s\n' "$AGENT_SCRIPT" >"$dir/scripts/agent.sh"
    chmod +x "$dir/scripts/agent.sh"
    for i in $(seq -w 1 "$n"); do
        cat >"$dir/agents/a$i.yaml" <<EOF
apiVersion: gascity.dev/v1alpha1
kind: Agent
metadata:
  name: a$i
spec:
  prompt:
    inline: "You are {{ agent.name }}."
EOF
    done
    (cd "$dir" && "$GC" validate >/dev/null && "$GC" apply >/dev/null) ||
        { echo "the bench city in $dir does not validate or apply" >&2; exit 1; }
}

# --- 1. converge -------------------------------------------------------------------------
# converge N: one hyperfine comparison of N agents, into $WORK/converge-N.json (+ a traced run).
converge() {
    local n=$1 conv="$WORK/converge-$1"
    make_city "$conv" "$SOCK-converge" "$n"
    cat >"$WORK/raw-$n.sh" <<EOF
#!/usr/bin/env bash
# By hand: start each agent program in its own tmux session, wait until it shows its prompt.
for i in \$(seq 1 $n); do
    tmux -L $SOCK-raw new-session -d -s s\$i -c $conv -x 200 -y 50 $conv/scripts/agent.sh
    until tmux -L $SOCK-raw capture-pane -p -t "=s\$i:" 2>/dev/null | grep -q '^ready>'; do
        sleep 0.01
    done
done
EOF
    # Kill both tmux servers and wait until they are gone: a client connecting to a server
    # that is still exiting gets "server exited unexpectedly".
    cat >"$WORK/reset-$n.sh" <<EOF
#!/usr/bin/env bash
for s in $SOCK-converge $SOCK-raw; do
    tmux -L \$s kill-server 2>/dev/null
    until tmux -L \$s has-session 2>&1 | grep -q -e 'no server running' -e 'error connecting'; do
        sleep 0.01
    done
done
rm -rf $conv/.gc/status
EOF
    local reset="bash $WORK/reset-$n.sh"
    cd "$conv"
    bash -c "$reset"
    "$GC" apply --wait --timeout 300s >/dev/null 2>&1 || { echo "gc apply --wait did not converge" >&2; exit 1; }
    [[ $(tmux -L "$SOCK-converge" list-sessions 2>/dev/null | wc -l) == "$n" ]] ||
        { echo "gc apply --wait did not start $n sessions" >&2; exit 1; }
    echo "1/4 converge: $RUNS runs each of gc apply --wait and the tmux loop, $n agents…" >&2
    "$HYPERFINE" -w 1 -r "$RUNS" --prepare "$reset" --export-json "$WORK/converge-$n.json" \
        -n "gc apply --wait" "$GC apply --wait --timeout 300s" \
        -n "tmux loop" "bash $WORK/raw-$n.sh" >/dev/null
    # One more run to see where gc's time goes: the events' timestamps of each start and ready.
    bash -c "$reset"
    : >"$conv/.gc/events.jsonl"
    "$GC" apply --wait --timeout 300s >/dev/null 2>&1
    cp "$conv/.gc/events.jsonl" "$WORK/converge-$n-events.jsonl"
    bash -c "$reset"
    cd "$ROOT"
}
if part converge; then for n in $SIZES; do converge "$n"; done; else SIZES=""; fi

# start_idle_city DIR SOCKET: an IDLE_AGENTS-agent city started and settled; sets CPID (its
# controller) and SPID (its tmux server).
start_idle_city() {
    make_city "$1" "$2" "$IDLE_AGENTS"
    (cd "$1" && "$GC" start --timeout 60s >/dev/null 2>&1) || { echo "gc start did not converge" >&2; exit 1; }
    CPID=$(cat "$1/.gc/controller.lock")
    SPID=$(tmux -L "$2" display -p '#{pid}')
    sleep 2 # let the first pass's follow-ups settle
}

# --- 2. idle -----------------------------------------------------------------------------
if part idle; then
echo "2/4 idle: $IDLE_AGENTS agents, ${IDLE_SECONDS}s…" >&2
IDLE="$WORK/idle"
start_idle_city "$IDLE" "$SOCK-idle"
python3 - "$CPID" "$SPID" "$IDLE_SECONDS" "$WORK/idle.json" <<'PY'
import json, os, sys, time
cpid, spid, secs, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    # after the command: state is field 3, utime 14, stime 15, cutime 16, cstime 17
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
c0, s0, t0 = ticks(cpid), ticks(spid), time.monotonic()
time.sleep(secs)
c1, s1, t1 = ticks(cpid), ticks(spid), time.monotonic()
json.dump({"seconds": t1 - t0, "hz": os.sysconf("SC_CLK_TCK"),
           "own": c1[0] - c0[0], "children": c1[1] - c0[1],
           "server": s1[0] - s0[0], "rss_kb": rss_kb(cpid),
           "server_rss_kb": rss_kb(spid)}, open(out, "w"))
PY

# --- 3. look -----------------------------------------------------------------------------
echo "3/4 look: gc status and gc session list, $IDLE_AGENTS agents…" >&2
(cd "$IDLE" && "$HYPERFINE" -N -w 3 -r 20 --export-json "$WORK/look.json" \
    -n "gc status" "$GC status" -n "gc session list" "$GC session list" \
    -n "tmux list-panes" "tmux -L $SOCK-idle list-panes -a" >/dev/null)
(cd "$IDLE" && "$GC" stop --timeout 60s >/dev/null 2>&1) || true
fi

# --- 4. restart --------------------------------------------------------------------------
if part restart; then
echo "4/4 restart: $KILLS kills…" >&2
KILL="$WORK/kill"
make_city "$KILL" "$SOCK-kill" 1 "    crashLoop:
      window: 1s"
(cd "$KILL" && "$GC" start --timeout 60s >/dev/null 2>&1) || { echo "gc start did not converge" >&2; exit 1; }
python3 - "$SOCK-kill" gc-bench-a1 "$KILLS" "$WORK/kills.json" <<'PY'
import json, os, subprocess, sys, time
sock, session, kills, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def panes():
    text = subprocess.run(["tmux", "-L", sock, "list-panes", "-a", "-F",
                           "#{session_name}\t#{pane_pid}\t#{pane_dead}\t#{@gc-meta}"],
                          capture_output=True, text=True).stdout
    for line in text.splitlines():
        name, pid, dead, meta = (line.split("\t") + [""] * 4)[:4]
        if name == session:
            try:
                meta = json.loads(bytes.fromhex(meta)) if meta else {}
            except ValueError:
                meta = {}
            return int(pid), dead == "1", meta.get("ready") == "1"
    return None
def wait_ready(old, limit=30):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        p = panes()
        if p and p[0] != old and not p[1] and p[2]:
            return p[0]
        time.sleep(0.01)
    sys.exit(f"{session} not restarted and ready within {limit}s")
pid = wait_ready(None)
results = []
for _ in range(kills):
    time.sleep(1.5)  # past the 1s crash-loop window: each kill is a first crash
    wall, t0 = time.time(), time.monotonic()
    subprocess.run(["pkill", "-9", "-P", str(pid)])
    try:
        os.kill(pid, 9)
    except ProcessLookupError:  # the launcher already exited with its child
        pass
    new = wait_ready(pid)
    results.append({"kill_ts": wall, "seconds": time.monotonic() - t0})
    pid = new
json.dump(results, open(out, "w"))
PY
cp "$KILL/.gc/events.jsonl" "$WORK/kill-events.jsonl"
(cd "$KILL" && "$GC" stop --timeout 30s >/dev/null 2>&1) || true
fi

# --- 5. dashboard ------------------------------------------------------------------------
# cpu_ticks OUT SECONDS NAME=PID…: utime+stime and cutime+cstime of each PID over SECONDS.
cpu_ticks() {
    python3 - "$@" <<'PY'
import json, os, sys, time
out, secs, named = sys.argv[1], float(sys.argv[2]), [a.split("=", 1) for a in sys.argv[3:]]
def ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
before, t0 = {n: ticks(p) for n, p in named}, time.monotonic()
time.sleep(secs)
after, t1 = {n: ticks(p) for n, p in named}, time.monotonic()
json.dump({"seconds": t1 - t0, "hz": os.sysconf("SC_CLK_TCK"),
           "ticks": {n: [after[n][0] - before[n][0], after[n][1] - before[n][1]] for n in after}},
          open(out, "w"))
PY
}
if part dashboard; then
echo "5/5 dashboard: $IDLE_AGENTS agents, ${IDLE_SECONDS}s without, ${IDLE_SECONDS}s with $CLIENTS clients…" >&2
DASH="$WORK/dash"
start_idle_city "$DASH" "$SOCK-dash"
cpu_ticks "$WORK/dash-off.json" "$IDLE_SECONDS" "controller=$CPID" "server=$SPID"
setsid "$GC" --city "$DASH" dashboard --listen 127.0.0.1:0 >"$WORK/dash.out" 2>&1 &
DPID=$!
HELPERS+=("$DPID")
for _ in $(seq 100); do grep -q '^dashboard: ' "$WORK/dash.out" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's|^dashboard: \(http://[^/]*\)/.*|\1|p' "$WORK/dash.out")
[[ -n $BASE ]] || { echo "gc dashboard did not start" >&2; exit 1; }
# Each client loads what the page loads, then keeps the events stream open.
setsid bash -c '
    for i in $(seq "$2"); do
        for path in status sessions "events?limit=50" resources/rig resources/order beads molecules; do
            curl -sf "$1/api/v1/$path" >/dev/null
        done
        curl -sN "$1/api/v1/events/stream" >/dev/null &
    done
    wait' clients "$BASE" "$CLIENTS" &
CLIENTS_PID=$!
HELPERS+=("$CLIENTS_PID")
sleep 3 # the initial loads done, the streams open
cpu_ticks "$WORK/dash-on.json" "$IDLE_SECONDS" "controller=$CPID" "server=$SPID" "dashboard=$DPID"
STREAMS=$(pgrep -f -c "curl -sN $BASE/api/v1/events/stream" || true)
echo "$STREAMS" >"$WORK/dash-streams"
kill -9 -- "-$CLIENTS_PID" "-$DPID" 2>/dev/null || true
wait "$CLIENTS_PID" "$DPID" 2>/dev/null || true
(cd "$DASH" && "$GC" stop --timeout 60s >/dev/null 2>&1) || true
fi

# --- report ------------------------------------------------------------------------------
python3 - "$WORK" "$SIZES" "$IDLE_AGENTS" <<'PY'
import json, os, statistics, sys
from datetime import datetime
work, sizes, idle_agents = sys.argv[1], sys.argv[2].split(), sys.argv[3]
def ts(e):
    return datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()
def events(path):
    return [json.loads(l) for l in open(path) if l.strip()]
ok = lambda met: "MET" if met else "NOT MET"

for n in sizes:
    res = {r["command"]: r for r in json.load(open(f"{work}/converge-{n}.json"))["results"]}
    g, t = res["gc apply --wait"]["median"], res["tmux loop"]["median"]
    print(f"1. converge {n} agents (medians of {len(res['tmux loop']['times'])} runs):")
    print(f"   gc apply --wait        {g:7.2f} s   {g / t:5.2f}x the loop   goal <= 1.0x: {ok(g / t <= 1.0)}")
    print(f"   tmux new-session loop  {t:7.2f} s")
    ev = events(f"{work}/converge-{n}-events.jsonl")
    started = {e["payload"]["session"]: ts(e) for e in ev if e["type"] == "session.started"}
    ready = {e["payload"]["session"]: ts(e) for e in ev if e["type"] == "session.ready"}
    gaps = sorted(ready[s] - started[s] for s in started if s in ready)
    if gaps:
        span = max(ready.values()) - min(started.values())
        print(f"   one traced run: started→ready per session median {statistics.median(gaps) * 1e3:.0f} ms"
              f" (max {gaps[-1] * 1e3:.0f}), first start→last ready {span:.2f} s")

if os.path.exists(f"{work}/idle.json"):
    idle = json.load(open(f"{work}/idle.json"))
    secs, hz = idle["seconds"], idle["hz"]
    pct = lambda ticks: 100.0 * ticks / hz / secs
    own, kids, server = pct(idle["own"]), pct(idle["children"]), pct(idle["server"])
    total = own + kids + server
    print(f"2. idle city, {idle_agents} agents, {secs:.0f} s:")
    print(f"   controller + tmux      {total:7.2f} % of a core   goal < 1%: {ok(total < 1.0)}")
    print(f"     controller {own:.2f} %, its tmux clients {kids:.2f} %, tmux server {server:.2f} %")
    rss = idle["rss_kb"] / 1024
    print(f"   controller RSS         {rss:7.1f} MB           goal < 50 MB: {ok(rss < 50)}")

    look = {r["command"]: r for r in json.load(open(f"{work}/look.json"))["results"]}
    floor = look["tmux list-panes"]["median"]
    print(f"3. look, {idle_agents} agents (medians of {len(look['gc status']['times'])} runs):")
    for name in ("gc status", "gc session list"):
        m = look[name]["median"]
        print(f"   {name:<22} {m * 1e3:7.1f} ms   {m / floor:5.1f}x tmux list-panes   goal < 50 ms: {ok(m < 0.05)}")
    print(f"   tmux list-panes -a     {floor * 1e3:7.1f} ms")

if os.path.exists(f"{work}/dash-on.json"):
    off, on = json.load(open(f"{work}/dash-off.json")), json.load(open(f"{work}/dash-on.json"))
    def pct(window, name, children=False):
        own, kids = window["ticks"].get(name, [0, 0])
        return 100.0 * (own + (kids if children else 0)) / window["hz"] / window["seconds"]
    base = pct(off, "controller", True) + pct(off, "server")
    city = pct(on, "controller", True) + pct(on, "server")
    dash = pct(on, "dashboard", True)
    added = dash + (city - base)
    streams = open(f"{work}/dash-streams").read().strip()
    print(f"5. dashboard on an idle city, {idle_agents} agents, {on['seconds']:.0f} s each window,"
          f" {streams} clients on the events stream:")
    print(f"   dashboard + what it adds {added:6.2f} % of a core   goal < 1%: {ok(added < 1.0)}")
    print(f"     dashboard {dash:.2f} %; controller + tmux {base:.2f} % without it, {city:.2f} % with it"
          " (their difference is noise when it is below zero)")

if os.path.exists(f"{work}/kills.json"):
    kills = json.load(open(f"{work}/kills.json"))
    lat = sorted(k["seconds"] for k in kills)
    med = statistics.median(lat)
    print(f"4. kill → restarted and ready, {len(lat)} kills:")
    print(f"   median {med * 1e3:6.0f} ms   goal <= 100 ms: {ok(med <= 0.1)}")
    print(f"   max    {lat[-1] * 1e3:6.0f} ms   goal <= 250 ms: {ok(lat[-1] <= 0.25)}")
    ev = events(f"{work}/kill-events.jsonl")
    parts = {"detect (kill→crashed)": [], "restart (crashed→started)": [],
             "ready (started→ready)": [], "seen (ready→poll saw it)": []}
    for k in kills:
        after = [e for e in ev if ts(e) >= k["kill_ts"] - 0.002]
        first = lambda t: next((ts(e) for e in after if e["type"] == t), None)
        c, s, r = first("session.crashed"), first("session.started"), first("session.ready")
        if None in (c, s, r):
            continue
        parts["detect (kill→crashed)"].append(c - k["kill_ts"])
        parts["restart (crashed→started)"].append(s - c)
        parts["ready (started→ready)"].append(r - s)
        parts["seen (ready→poll saw it)"].append(k["kill_ts"] + k["seconds"] - r)
    for name, xs in parts.items():
        if xs:
            print(f"   {name:<27} median {statistics.median(xs) * 1e3:5.0f} ms   max {max(xs) * 1e3:5.0f} ms")
PY
