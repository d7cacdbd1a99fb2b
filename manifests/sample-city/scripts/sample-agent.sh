#!/usr/bin/env bash
# A stand-in for an AI coding CLI, so the sample city runs with nothing else installed.
# It prints the start of its prompt and shows a prompt of its own ("sample> "). It answers
# each line typed into its session (a nudge) by echoing it, and it does real work the way an
# agent's prompt tells it to: take the next work on its hook (`gc hook`), claim it
# (`bd update ID --claim`), "work" on it for SAMPLE_WORK_SECONDS, then `bd close` it. A bead
# whose text says `sample-agent: fail attempt N transient` (or `hard`) is closed as failed on
# its attempt N (metadata gc.outcome=fail), as an agent reports a failed attempt of a retried
# formula step.
set -u
if [ "${1:-}" = --version ]; then
  echo "sample-agent 1.0"
  exit 0
fi
printf '[sample-agent] %s started in %s\n' "${GC_AGENT:-agent}" "$PWD"
if [ $# -gt 0 ]; then
  printf '%s\n' "$1" | head -n 3
fi

# Prints the id of the next bead on this agent's hook (its own in-progress work first, then
# ready work routed to it) after claiming it; fails when there is none, or when another pool
# member claimed it first (the loop then simply asks again).
claim() {
  local id
  id=$(gc hook --json 2>/dev/null | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n 1)
  [ -n "$id" ] && bd update "$id" --claim >/dev/null 2>&1 && printf '%s' "$id"
}

# Prints `transient` or `hard` when the bead's text tells this attempt to fail.
told_to_fail() {
  local json attempt
  json=$(bd show "$1" --json 2>/dev/null) || return 1
  attempt=$(printf '%s' "$json" | sed -n 's/.*"gc.attempt": *\([0-9]*\).*/\1/p' | head -n 1)
  printf '%s' "$json" | grep -o "sample-agent: fail attempt ${attempt:-1} [a-z]*" | head -n 1 |
    sed 's/.* //' | grep -E '^(transient|hard)$'
}

printf 'sample> '
while true; do
  if IFS= read -r -t 1 line; then
    printf '[sample-agent] heard: %s\n' "$line"
    printf 'sample> '
  elif [ $? -le 128 ]; then
    exit 0 # end of input, not a timeout
  fi
  while id=$(claim); do
    printf '\n[sample-agent] %s working on %s\n' "${BEADS_ACTOR:-agent}" "$id"
    sleep "${SAMPLE_WORK_SECONDS:-0.2}" # the "work"
    if failure=$(told_to_fail "$id"); then
      bd update "$id" --set-metadata gc.outcome=fail --set-metadata "gc.failure_class=$failure" \
        --set-metadata "gc.failure_reason=sample failure" --status closed >/dev/null &&
        printf '[sample-agent] failed %s (%s)\n' "$id" "$failure"
    elif bd close "$id" --reason "done by ${BEADS_ACTOR:-agent}" >/dev/null; then
      printf '[sample-agent] closed %s\n' "$id"
    fi
    printf 'sample> '
  done
done
