#!/usr/bin/env bash
# Builds gc for release and packs what a user installs into dist/:
#   gc-<version>-<target>.tar.gz  with bin/gc, share/man/man1/*.1 (a page per command),
#   share/completions/{gc.bash,_gc,gc.fish,gc.elv,gc.ps1}, schemas/ and README.md.
# GC_PACKAGE_BIN=PATH packs that gc instead of building one (the tests pack the debug build);
# GC_PACKAGE_OUT=DIR writes there instead of dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
target=$(rustc -vV | sed -n 's/^host: //p')
out=${GC_PACKAGE_OUT:-dist}
bin=${GC_PACKAGE_BIN:-}
if [[ -z "$bin" ]]; then
  echo "==> cargo build --release"
  cargo build --release --locked --bin gc
  bin=target/release/gc
fi

name="gc-$version-$target"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
mkdir -p "$root/bin" "$root/share/man/man1" "$root/share/completions"
install -m 0755 "$bin" "$root/bin/gc"
"$root/bin/gc" completion man "$root/share/man/man1" >/dev/null
for shell in bash zsh fish elvish powershell; do
  case $shell in
    bash) file=gc.bash ;; zsh) file=_gc ;; fish) file=gc.fish ;;
    elvish) file=gc.elv ;; powershell) file=gc.ps1 ;;
  esac
  "$root/bin/gc" completion "$shell" >"$root/share/completions/$file"
done
cp -R schemas "$root/schemas"
cp README.md "$root/README.md"

mkdir -p "$out"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "==> $out/$name.tar.gz"
