#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and all tests (unit, CLI end to end, real agent
# CLIs, property).
# Installs what the tests need when it is missing, so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

if ! need_cmd cargo; then
  echo "test.sh: cargo is required (https://rustup.rs)" >&2
  exit 2
fi

# The runtime and controller tests drive a real tmux (each on a private socket).
ensure_tmux
# The dashboard's page is tested in headless Chromium through chromedriver (WebDriver).
ensure_cmd chromium
ensure_cmd chromedriver chromium-driver
# The exec session backend's example script (docs/examples/) is Python 3.
ensure_cmd python3
# The end-to-end tests drive the real Claude Code, Codex and Gemini CLIs (pinned versions).
ensure_agent_clis
# Gas Town's formula library, pinned, when GitHub can be reached (tests/gastown_library.rs).
ensure_gastown_formulas
# A city repository's pre-commit hook is tested with the real pre-commit (PyPI, pinned).
ensure_pre_commit
# SARIF output is checked with Microsoft's SARIF Multitool (npm, pinned).
ensure_sarif_multitool
# Editors: the real yaml-language-server reads gc's schemas (npm, pinned).
ensure_yaml_ls
# The postgres bead store is tested against real PostgreSQL servers on private sockets.
ensure_postgres

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
