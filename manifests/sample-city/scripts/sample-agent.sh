#!/usr/bin/env bash
# A stand-in for an AI coding CLI, so the sample city runs with nothing else installed.
# It prints the start of its prompt, shows a prompt of its own ("sample> ") and answers each
# line typed into its session (a nudge) by echoing it.
set -u
if [ "${1:-}" = --version ]; then
  echo "sample-agent 1.0"
  exit 0
fi
printf '[sample-agent] %s started in %s\n' "${GC_AGENT:-agent}" "$PWD"
if [ $# -gt 0 ]; then
  printf '%s\n' "$1" | head -n 3
fi
while true; do
  printf 'sample> '
  IFS= read -r line || exit 0
  printf '[sample-agent] heard: %s\n' "$line"
done
