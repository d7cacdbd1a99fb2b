# Shared by scripts/*.sh: source it, then call the functions.

need_cmd() {
  command -v "$1" >/dev/null 2>&1
}

# Installs the command $1 (Debian package $2, default $1) when it is missing (apt-get, with
# sudo when not root; or brew).
ensure_cmd() {
  local cmd=$1 package=${2:-$1}
  need_cmd "$cmd" && return 0
  echo "==> installing $package"
  if need_cmd apt-get; then
    local sudo=""
    if [ "$(id -u)" != 0 ] && need_cmd sudo; then sudo="sudo"; fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "$package"
  elif need_cmd brew; then
    brew install "$package"
  fi
  if ! need_cmd "$cmd"; then
    echo "$cmd is required; install $package and rerun" >&2
    exit 2
  fi
}

ensure_tmux() {
  ensure_cmd tmux
}

# The agent CLIs the end-to-end tests run, pinned to the versions their facts were checked on.
AGENT_CLIS=(
  "@anthropic-ai/claude-code@2.1.332"
  "@openai/codex@0.171.0"
  "@google/gemini-cli@0.61.0"
)

# Installs the pinned agent CLIs into target/agent-clis (npm; Node.js is installed when
# missing) and exports GC_TEST_CLAUDE, GC_TEST_CODEX and GC_TEST_GEMINI for the tests, with
# GC_TEST_REQUIRE_AGENT_CLIS=1 so a missing one fails them rather than skipping.
ensure_agent_clis() {
  local dir="$PWD/target/agent-clis"
  local want have
  want=$(printf '%s\n' "${AGENT_CLIS[@]}")
  have=$(cat "$dir/.installed" 2>/dev/null || true)
  if [ "$want" != "$have" ] || [ ! -x "$dir/node_modules/.bin/claude" ]; then
    if ! need_cmd npm; then
      echo "==> installing Node.js and npm"
      local sudo=""
      if [ "$(id -u)" != 0 ] && need_cmd sudo; then sudo="sudo"; fi
      if need_cmd apt-get; then
        $sudo apt-get update -qq && $sudo apt-get install -y -qq nodejs npm
      elif need_cmd brew; then
        brew install node
      fi
    fi
    if ! need_cmd npm; then
      echo "npm is required to install the agent CLIs the tests run; install Node.js" >&2
      exit 2
    fi
    echo "==> installing agent CLIs: ${AGENT_CLIS[*]}"
    mkdir -p "$dir"
    # An auto-updating CLI must not replace the pinned version while the tests run.
    DISABLE_AUTOUPDATER=1 npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
      "${AGENT_CLIS[@]}"
    printf '%s\n' "$want" > "$dir/.installed"
  fi
  export GC_TEST_CLAUDE="$dir/node_modules/.bin/claude"
  export GC_TEST_CODEX="$dir/node_modules/.bin/codex"
  export GC_TEST_GEMINI="$dir/node_modules/.bin/gemini"
  export GC_TEST_REQUIRE_AGENT_CLIS=1
}

# Gas Town's formula library, pinned (it is not part of this repository). Downloads it into
# target/gastown-formulas when GitHub can be reached and exports GC_GASTOWN_FORMULAS for
# tests/gastown_library.rs; without a network the test says it is skipped.
GASTOWN_COMMIT=a8bd79bf86683d49c558a30e826fcfff1fbd6ced
ensure_gastown_formulas() {
  local dir="$PWD/target/gastown-formulas"
  if [ ! -f "$dir/.commit" ] || [ "$(cat "$dir/.commit")" != "$GASTOWN_COMMIT" ]; then
    local tmp
    tmp=$(mktemp -d)
    echo "==> fetching Gas Town's formula library at $GASTOWN_COMMIT"
    if curl -fsSL --max-time 60 \
      "https://codeload.github.com/steveyegge/gastown/tar.gz/$GASTOWN_COMMIT" -o "$tmp/gt.tgz" &&
      tar -xzf "$tmp/gt.tgz" -C "$tmp" --wildcards '*/internal/formula/formulas/*.toml'; then
      rm -rf "$dir" && mkdir -p "$dir"
      cp "$tmp"/*/internal/formula/formulas/*.toml "$dir/"
      printf '%s\n' "$GASTOWN_COMMIT" > "$dir/.commit"
    else
      echo "    (GitHub cannot be reached: the Gas Town library test will be skipped)"
    fi
    rm -rf "$tmp"
  fi
  if [ -f "$dir/.commit" ]; then
    export GC_GASTOWN_FORMULAS="$dir"
  fi
}

# pre-commit (from PyPI, pinned) in a virtualenv under target/, for tests/pre_commit_hook.rs:
# exports GC_TEST_PRE_COMMIT and GC_TEST_REQUIRE_PRE_COMMIT=1.
PRE_COMMIT_VERSION=4.2.0
ensure_pre_commit() {
  local venv="$PWD/target/pre-commit-venv"
  if [ ! -x "$venv/bin/pre-commit" ] || [ "$("$venv/bin/pre-commit" --version)" != "pre-commit $PRE_COMMIT_VERSION" ]; then
    echo "==> installing pre-commit $PRE_COMMIT_VERSION"
    if ! python3 -m venv "$venv" 2>/dev/null; then
      # Debian ships venv apart from python3.
      local sudo=""
      if [ "$(id -u)" != 0 ] && need_cmd sudo; then sudo="sudo"; fi
      if need_cmd apt-get; then
        $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv
      fi
      python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet "pre-commit==$PRE_COMMIT_VERSION"
  fi
  export GC_TEST_PRE_COMMIT="$venv/bin/pre-commit"
  export GC_TEST_REQUIRE_PRE_COMMIT=1
}

# Microsoft's SARIF Multitool (npm, pinned), which checks a SARIF log against the official
# SARIF 2.1.0 schema and its rules, for tests/validate_sarif.rs: exports
# GC_TEST_SARIF_MULTITOOL and GC_TEST_REQUIRE_SARIF_MULTITOOL=1. Needs npm (ensure_agent_clis
# installs it first).
SARIF_MULTITOOL=@microsoft/sarif-multitool@5.7.0
ensure_sarif_multitool() {
  npm_tool sarif-multitool "$SARIF_MULTITOOL"
  export GC_TEST_SARIF_MULTITOOL="$PWD/target/sarif-multitool/node_modules/.bin/sarif-multitool"
  export GC_TEST_REQUIRE_SARIF_MULTITOOL=1
}

# Installs the npm package $2 (name@version) into target/$1 unless that version is there.
npm_tool() {
  local dir="$PWD/target/$1"
  if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$2" ]; then
    echo "==> installing $2"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$2"
    printf '%s\n' "$2" > "$dir/.installed"
  fi
}

# yaml-language-server (npm, pinned), which VS Code's YAML extension runs, for
# tests/editor_schema.rs: exports GC_TEST_YAML_LS and GC_TEST_REQUIRE_YAML_LS=1. Needs npm.
YAML_LS=yaml-language-server@1.19.2
ensure_yaml_ls() {
  npm_tool yaml-ls "$YAML_LS"
  export GC_TEST_YAML_LS="$PWD/target/yaml-ls/node_modules/.bin/yaml-language-server"
  export GC_TEST_REQUIRE_YAML_LS=1
}

# A PostgreSQL server for the postgres bead store's tests: Debian's postgresql package when
# initdb/postgres are missing. Exports GC_TEST_PG_BIN (the directory holding them) and
# GC_TEST_REQUIRE_POSTGRES=1, so the tests fail rather than skip when it is not there. The tests
# start their own servers on private sockets (tests/common/postgres.rs), never the system one.
ensure_postgres() {
  local bin=""
  if need_cmd initdb && need_cmd postgres; then
    bin=$(dirname "$(command -v postgres)")
  else
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
      echo "==> installing postgresql"
      local sudo=""
      if [ "$(id -u)" != 0 ] && need_cmd sudo; then sudo="sudo"; fi
      if need_cmd apt-get; then
        # Only the binaries are needed: no cluster is created or started.
        $sudo apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          -o Dpkg::Options::=--force-confold postgresql-common >/dev/null
        $sudo sh -c 'mkdir -p /etc/postgresql-common && echo "create_main_cluster = false" \
          > /etc/postgresql-common/createcluster.conf'
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      fi
      bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    fi
  fi
  if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
    echo "postgres is required for the bead store tests; install postgresql and rerun" >&2
    exit 2
  fi
  export GC_TEST_PG_BIN=$bin GC_TEST_REQUIRE_POSTGRES=1
}
