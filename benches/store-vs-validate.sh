#!/usr/bin/env bash
# Times `gc diff` (no change; the resource diff alone, then with the runtime plan, which plans
# every agent against tmux) and `gc apply -f` of one changed file on a 1,000-resource city,
# each as a ratio to `gc validate` of the whole city, in the same run.
#
#   benches/store-vs-validate.sh          # from any directory
#
# Goals (issue 3): diff <= 1.5x validate; single-file apply <= 0.5x validate.
# Knobs (environment): RUNS (default 15), FILES (1000), HYPERFINE (path to hyperfine).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-15}
FILES=${FILES:-1000}
HYPERFINE=${HYPERFINE:-hyperfine}
if ! command -v "$HYPERFINE" >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        apt-get install -y -qq hyperfine >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq hyperfine; } >/dev/null 2>&1
    fi
    command -v "$HYPERFINE" >/dev/null || { echo "hyperfine is needed (apt-get install hyperfine)" >&2; exit 2; }
fi

cargo build --release --quiet
GC="$ROOT/target/release/gc"
CITY=$(mktemp -d "${TMPDIR:-/tmp}/gc-store-bench.XXXXXX")
trap 'rm -rf "$CITY"' EXIT
python3 "$ROOT/benches/gen_city.py" --files "$FILES" --invalid 0 "$CITY" >/dev/null
cd "$CITY"
"$GC" validate >/dev/null
"$GC" apply >/dev/null
ONE=$(find agents -name '*.yaml' | sort | head -n 1)
# Each timed apply must change something: flip a label between two values before each run.
# (Generated agents all carry a labels block.)
if ! grep -q '^    bench: ' "$ONE"; then sed -i 's/^  labels:$/  labels:\n    bench: a/' "$ONE"; fi
FLIP="if grep -q 'bench: a' $ONE; then sed -i 's/bench: a/bench: b/' $ONE; else sed -i 's/bench: b/bench: a/' $ONE; fi"
bash -c "$FLIP"
"$GC" validate "$ONE" >/dev/null || { echo "the label flip broke $ONE" >&2; exit 1; }
"$GC" apply >/dev/null
"$GC" diff >/dev/null || { echo "gc diff should see no change after apply" >&2; exit 1; }

"$HYPERFINE" -N -w 3 -r "$RUNS" --export-json "$CITY/read.json" \
    -n validate "$GC validate" -n diff "$GC diff --no-runtime" \
    -n "diff + runtime plan" "$GC diff" >/dev/null
"$HYPERFINE" -w 1 -r "$RUNS" --export-json "$CITY/apply.json" --prepare "$FLIP" \
    -n "apply -f one file" "$GC apply -f $ONE" >/dev/null

python3 - "$CITY/read.json" "$CITY/apply.json" "$FILES" <<'PY'
import json, sys
res = {}
for path in sys.argv[1:3]:
    for r in json.load(open(path))["results"]:
        res[r["command"]] = r["median"]
v = res["validate"]
print(f"{sys.argv[3]} resources; medians over the same city:")
for name, goal in [("validate", None), ("diff", 1.5), ("diff + runtime plan", None),
                   ("apply -f one file", 0.5)]:
    t = res[name]
    line = f"  {name:<20} {t * 1e3:7.1f} ms  {t / v:5.2f}x validate"
    if goal is not None:
        line += f"   goal <= {goal}x: {'MET' if t / v <= goal else 'NOT MET'}"
    print(line)
PY
