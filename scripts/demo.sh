#!/usr/bin/env bash
# Builds gc, creates the sample city in a new directory, starts it and shows its agents
# running. The sample agents are shell scripts, so no AI CLI is needed.
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
cat <<EOT

The sample city runs in $CITY (its own tmux server). Try:
  cd $CITY
  $GC status                       # the city at a glance
  $GC session attach mayor         # watch an agent (detach: Ctrl-b d)
  $GC session nudge mayor hello    # type into it
  $GC events                       # what happened
  $GC stop                         # stop the agents and the controller
EOT
