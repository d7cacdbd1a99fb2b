# Shared by scripts/*.sh: source it, then call the functions.

need_cmd() {
  command -v "$1" >/dev/null 2>&1
}

# Installs tmux when it is missing (apt-get, with sudo when not root; or brew).
ensure_tmux() {
  need_cmd tmux && return 0
  echo "==> installing tmux"
  if need_cmd apt-get; then
    local sudo=""
    if [ "$(id -u)" != 0 ] && need_cmd sudo; then sudo="sudo"; fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq tmux
  elif need_cmd brew; then
    brew install tmux
  fi
  if ! need_cmd tmux; then
    echo "tmux is required; install it and rerun" >&2
    exit 2
  fi
}
