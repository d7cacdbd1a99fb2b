#!/usr/bin/env bash
# A stand-in for an AI coding CLI, so the sample city runs with nothing else installed.
# It prints the start of its prompt and shows a prompt of its own ("sample> "). It answers
# each line typed into its session (a nudge) by echoing it, and it does real work the way an
# agent's prompt tells it to: claim the next ready bead routed to it (`bd ready --claim`),
# "work" on it for SAMPLE_WORK_SECONDS, then `bd close` it.
set -u
if [ "${1:-}" = --version ]; then
  echo "sample-agent 1.0"
  exit 0
fi
printf '[sample-agent] %s started in %s\n' "${GC_AGENT:-agent}" "$PWD"
if [ $# -gt 0 ]; then
  printf '%s\n' "$1" | head -n 3
fi

# Prints the id of the bead this agent just claimed; fails when there is none.
claim() {
  local json id
  json=$(bd ready --claim --metadata-field "gc.routed_to=${GC_AGENT:-}" --json 2>/dev/null) || return 1
  # The first "id" of the first object is the bead's own (dependencies use issue_id).
  id=$(printf '%s' "$json" | sed -n 's/^[^{]*{"id":"\([^"]*\)".*/\1/p')
  [ -n "$id" ] && printf '%s' "$id"
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
    if bd close "$id" --reason "done by ${BEADS_ACTOR:-agent}" >/dev/null; then
      printf '[sample-agent] closed %s\n' "$id"
    fi
    printf 'sample> '
  done
done
