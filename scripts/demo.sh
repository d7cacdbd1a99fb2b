#!/usr/bin/env bash
# Builds gc, creates the sample city in a new directory, starts it, shows its agents running,
# then slings five beads to the worker pool and shows the agents claim and close them (the
# sample agents are shell scripts that run `gc hook`, `bd update --claim` and `bd close`, so
# no AI CLI is needed).
#
#   scripts/demo.sh [DIR]      # DIR defaults to a new temporary directory
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ensure_tmux
echo "==> cargo build --release"
cargo build --release --quiet
GC="$ROOT/target/release/gc"
CITY=${1:-$(mktemp -d "${TMPDIR:-/tmp}/gc-sample.XXXXXX")}
echo "==> gc init $CITY --name sample"
"$GC" init "$CITY" --name sample >/dev/null
cd "$CITY"
echo "==> gc apply"
"$GC" apply
echo "==> gc start"
"$GC" start
echo "==> gc session list"
"$GC" session list
echo "==> gc session peek mayor"
"$GC" session peek mayor -n 8
echo "==> gc rig list"
"$GC" rig list
echo "==> gc sling worker \"Sample task N\"   (N = 1..5)"
for n in 1 2 3 4 5; do
  "$GC" sling worker "Sample task $n"
done
echo "==> waiting for the worker pool to close them"
deadline=$((SECONDS + 60))
while :; do
  open=$(cd rigs/demo-repo && "$GC" bd list --json | grep -c '"id"' || true)
  [ "$open" -eq 0 ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "still $open open after 60s; see: $GC session peek gc-sample-worker-1" >&2
    break
  fi
  echo "    $open open"
  sleep 1
done
echo "==> gc bd list --all   (in the rig: rigs/demo-repo)"
(cd rigs/demo-repo && "$GC" bd list --all)
echo "==> gc events --type 'bead.*' --limit 10"
"$GC" events --type 'bead.*' --limit 10
echo "==> the worker pool grew with the work and shrinks back to its min of 1"
deadline=$((SECONDS + 30))
until "$GC" status | grep -q '^worker .* 1/1 '; do
  [ "$SECONDS" -ge "$deadline" ] && break
  sleep 0.5
done
"$GC" events --object agent/worker --type session.started --type session.stopped
echo "==> gc formula show review-change --var change=demo-branch"
"$GC" formula show review-change --var change=demo-branch
echo "==> gc sling worker --formula review-change --var change=demo-branch"
"$GC" sling worker --formula review-change --var change=demo-branch
echo "==> waiting for the pool to work the molecule's steps in dependency order"
deadline=$((SECONDS + 90))
while :; do
  open=$(cd rigs/demo-repo && "$GC" bd list --json | grep -c '"id"' || true)
  [ "$open" -eq 0 ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "still $open open after 90s" >&2
    break
  fi
  sleep 1
done
echo "==> the steps in the order they were closed"
"$GC" events --type bead.closed --limit 9
echo "==> gc order list"
"$GC" order list
cat <<EOT

The sample city runs in $CITY (its own tmux server). Try:
  cd $CITY
  $GC status                       # the city at a glance
  $GC session attach mayor         # watch an agent (detach: Ctrl-b d)
  $GC session nudge mayor hello    # type into it
  $GC sling worker "Another task"  # route work to the worker pool
  $GC formula list                 # the city's workflows
  $GC order run nightly-patrol     # fire an order now
  $GC mail send mayor -s Hi -m Hello   # mail an agent
  $GC events                       # what happened
  $GC stop                         # stop the agents and the controller
EOT
