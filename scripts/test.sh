#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and all tests (unit, CLI end to end, property).
# Installs what the tests need when it is missing, so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need_cmd() {
  command -v "$1" >/dev/null 2>&1
}

if ! need_cmd cargo; then
  echo "test.sh: cargo is required (https://rustup.rs)" >&2
  exit 2
fi

# The tmux runtime's conformance tests drive a real tmux (each on a private socket).
if ! need_cmd tmux; then
  echo "==> installing tmux (the runtime tests need it)"
  if need_cmd apt-get; then
    SUDO=""
    if [ "$(id -u)" != 0 ] && need_cmd sudo; then SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq tmux
  elif need_cmd brew; then
    brew install tmux
  fi
  if ! need_cmd tmux; then
    echo "test.sh: tmux is required for the runtime tests; install it and rerun" >&2
    exit 2
  fi
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings

echo "==> tests"
if need_cmd cargo-nextest; then
  cargo nextest run --all-targets --no-fail-fast
  # nextest does not run doc tests
  cargo test --quiet --doc
else
  cargo test --quiet --all-targets --no-fail-fast
  cargo test --quiet --doc
fi
echo "==> all checks passed"
