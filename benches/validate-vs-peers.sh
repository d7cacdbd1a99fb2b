#!/usr/bin/env bash
# Benchmark `gc validate` against other JSON Schema validators on the same 1,000-file city.
#
#   benches/validate-vs-peers.sh            # from any directory
#
# What it does, in one run:
#   1. builds gc in release mode (target/release/gc);
#   2. generates a deterministic city of $FILES YAML resource files (benches/gen_city.py),
#      $INVALID of them invalid in ways a JSON Schema catches, into a fresh temp directory;
#   3. installs the peers into target/bench-tools/ when missing (check-jsonschema from PyPI in
#      a venv; ajv-cli and @sourcemeta/jsonschema from npm); a peer that cannot be installed or
#      does not work is skipped with a message;
#   4. times every tool on the same files and schema (schemas/v1alpha1/all.json) with
#      hyperfine (installed with apt-get when missing and possible), else a bash loop taking
#      the median of $RUNS runs;
#   5. prints how many files each tool flagged (and which expected ones it missed);
#   6. prints a table (median, ratio peer/gc, line:col) and the goal line.
#
# Only YAML is generated: ajv-cli and sourcemeta's jsonschema do not read TOML.
# Exits 0 whenever it ran, whether or not the goal is met.
#
# Knobs (environment): RUNS (default 10), WARMUP (1), FILES (1000), INVALID (100), SEED,
# KEEP=1 keeps the temp directory, NO_INSTALL=1 never installs anything, BENCH_TOOLS=DIR
# caches the peers elsewhere (default target/bench-tools), HYPERFINE=none forces the bash loop.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT" || exit 1

RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
FILES=${FILES:-1000}
INVALID=${INVALID:-100}
SEED=${SEED:-20240611}
TOOLS=${BENCH_TOOLS:-"$ROOT/target/bench-tools"}
SCHEMA="$ROOT/schemas/v1alpha1/all.json"

# Versions the numbers were taken with; override to try others.
CHECK_JSONSCHEMA_SPEC=${CHECK_JSONSCHEMA_SPEC:-check-jsonschema==0.39.0}
AJV_CLI_SPEC=${AJV_CLI_SPEC:-ajv-cli@5.0.0}
SOURCEMETA_SPEC=${SOURCEMETA_SPEC:-@sourcemeta/jsonschema@16.11.0}

say() { printf '%s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------
section "build gc (release)"
if ! cargo build --release --quiet; then
    say "error: cargo build --release failed; nothing to benchmark" >&2
    exit 1
fi
GC="$ROOT/target/release/gc"
say "gc: $GC"

# ---------------------------------------------------------------------------------------------
section "generate the city"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gc-bench.XXXXXX")
if [[ "${KEEP:-0}" == 1 ]]; then
    say "keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi
CITY="$WORK/city"
if ! python3 "$HERE/gen_city.py" "$CITY" --files "$FILES" --invalid "$INVALID" --seed "$SEED"; then
    say "error: generating the city failed" >&2
    exit 1
fi
EXPECTED="$WORK/expected-invalid.txt"
say "city: $CITY ($(find "$CITY" -type f -name '*.yaml' | wc -l) YAML files, $(du -sh --apparent-size "$CITY" | cut -f1) of YAML)"

# ---------------------------------------------------------------------------------------------
section "peers"
mkdir -p "$TOOLS"
can_install() { [[ "${NO_INSTALL:-0}" != 1 ]]; }

# check-jsonschema (PyPI) in a venv.
CJ="$TOOLS/venv/bin/check-jsonschema"
if [[ ! -x "$CJ" ]] && can_install; then
    say "installing $CHECK_JSONSCHEMA_SPEC into $TOOLS/venv ..."
    { python3 -m venv "$TOOLS/venv" && "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "$CHECK_JSONSCHEMA_SPEC"; } \
        >"$TOOLS/pip.log" 2>&1 || say "  failed (see $TOOLS/pip.log)"
fi

# npm peers, each installed on its own so one failure does not block the other.
NPM_BIN="$TOOLS/npm/node_modules/.bin"
npm_install() {
    local spec=$1
    if ! command -v npm >/dev/null; then
        say "  npm not found: cannot install $spec"
        return 1
    fi
    say "installing $spec into $TOOLS/npm ..."
    mkdir -p "$TOOLS/npm"
    npm install --prefix "$TOOLS/npm" --no-audit --no-fund --silent "$spec" \
        >>"$TOOLS/npm.log" 2>&1 || { say "  failed (see $TOOLS/npm.log)"; return 1; }
}
AJV="$NPM_BIN/ajv"
if [[ ! -x "$AJV" ]] && can_install; then npm_install "$AJV_CLI_SPEC"; fi
# ajv-formats is not needed: the generated schemas use no `format` keyword.

SM_WRAPPER="$NPM_BIN/jsonschema"
if [[ ! -x "$SM_WRAPPER" ]] && can_install; then npm_install "$SOURCEMETA_SPEC"; fi
# The npm package ships native binaries and a node wrapper that spawns one. Time the native
# binary directly (the peer's best case: no node start-up); fall back to the wrapper.
SM=""
if [[ -x "$SM_WRAPPER" ]]; then
    SM="$SM_WRAPPER"
    arch=$(uname -m)
    for cand in "$TOOLS"/npm/node_modules/@sourcemeta/jsonschema/build/github-releases/jsonschema-linux-"$arch" \
        "$TOOLS"/npm/node_modules/@sourcemeta/jsonschema/build/github-releases/jsonschema-linux-"$arch"-musl; do
        if [[ -f "$cand" ]]; then
            chmod +x "$cand" 2>/dev/null
            if "$cand" version >/dev/null 2>&1; then SM="$cand"; break; fi
        fi
    done
fi

# A smoke test: each peer must accept the schema and pass a valid file from the sample city.
SMOKE="$ROOT/manifests/sample-city/agents/worker.yaml"
NAMES=() CMDS=() PARSERS=()
add_tool() { NAMES+=("$1"); CMDS+=("$2"); PARSERS+=("$3"); }

# All commands run with the city directory as the working directory, on the same files.
add_tool "gc" "'$GC' validate . --output json" gc

if [[ -x "$CJ" ]]; then
    if out=$("$CJ" --schemafile "$SCHEMA" "$SMOKE" 2>&1); then
        say "check-jsonschema $("$CJ" --version 2>/dev/null | awk '{print $NF}'): ok"
        add_tool "check-jsonschema" "'$CJ' -o json --schemafile '$SCHEMA' *.yaml */*.yaml" check-jsonschema
    else
        say "check-jsonschema: skipped, it fails on a valid file: $(head -c 300 <<<"$out")"
    fi
else
    say "check-jsonschema: skipped (not installed)"
fi

if [[ -x "$AJV" ]]; then
    if out=$("$AJV" validate --spec=draft2020 -s "$SCHEMA" -d "$SMOKE" 2>&1); then
        say "ajv-cli $(node -p "require('$TOOLS/npm/node_modules/ajv-cli/package.json').version" 2>/dev/null) (ajv $(node -p "require('$TOOLS/npm/node_modules/ajv/package.json').version" 2>/dev/null)): ok"
        add_tool "ajv-cli" "'$AJV' validate --spec=draft2020 --all-errors --errors=json -s '$SCHEMA' -d '**/*.yaml'" ajv
    else
        say "ajv-cli: skipped, it fails on a valid file: $(head -c 300 <<<"$out")"
    fi
else
    say "ajv-cli: skipped (not installed)"
fi

if [[ -n "$SM" ]]; then
    if out=$("$SM" validate "$SCHEMA" "$SMOKE" 2>&1); then
        say "sourcemeta jsonschema $("$SM" version 2>/dev/null): ok ($([[ "$SM" == "$SM_WRAPPER" ]] && echo "node wrapper" || echo "native binary $(basename "$SM")"))"
        add_tool "sourcemeta jsonschema" "'$SM' validate '$SCHEMA' . --extension .yaml --continue" sourcemeta
        add_tool "sourcemeta jsonschema --fast" "'$SM' validate '$SCHEMA' . --extension .yaml --continue --fast" sourcemeta
    else
        say "sourcemeta jsonschema: skipped, it fails on a valid file: $(head -c 300 <<<"$out")"
    fi
else
    say "sourcemeta jsonschema: skipped (not installed)"
fi

# ---------------------------------------------------------------------------------------------
section "correctness: files flagged by each tool (expected: $(wc -l <"$EXPECTED") invalid)"
OUT="$WORK/out"
mkdir -p "$OUT"
for i in "${!NAMES[@]}"; do
    (cd "$CITY" && sh -c "${CMDS[$i]}" >"$OUT/$i.stdout" 2>"$OUT/$i.stderr")
    echo $? >"$OUT/$i.rc"
done

# Parse every tool's output into: files flagged, missed/extra vs the expected list, line:col.
COUNTS="$WORK/counts.tsv"
python3 - "$OUT" "$EXPECTED" "$CITY" "${#NAMES[@]}" "${PARSERS[@]}" "${NAMES[@]}" >"$COUNTS" <<'PY'
import json, os, re, sys
out, expected_path, city, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
parsers, names = sys.argv[5:5 + n], sys.argv[5 + n:5 + 2 * n]
expected = set(open(expected_path).read().split())
LINECOL = re.compile(r'line["\s:]*\d+["\s,]*col(umn)?["\s:]*\d+|\.ya?ml:\d+:\d+', re.I)

def norm(p):
    p = p.strip()
    if os.path.isabs(p):
        p = os.path.relpath(p, city)
    else:
        p = os.path.relpath(os.path.normpath(os.path.join(city, p)), city)
    return p

for i, (parser, name) in enumerate(zip(parsers, names)):
    so = open(f"{out}/{i}.stdout", errors="replace").read()
    se = open(f"{out}/{i}.stderr", errors="replace").read()
    rc = open(f"{out}/{i}.rc").read().strip()
    flagged, errors, note = set(), 0, ""
    try:
        if parser == "gc":
            diags = json.loads(so)
            errs = [d for d in diags if d.get("severity") == "error"]
            errors = len(errs)
            flagged = {norm(d["file"]) for d in errs if d.get("file")}
            unplaced = [d for d in errs if not d.get("file")]
            if unplaced:
                note = f"{len(unplaced)} error(s) without a file: " + "; ".join(d["message"] for d in unplaced[:3])
        elif parser == "check-jsonschema":
            doc = json.loads(so)
            errors = len(doc.get("errors", [])) + len(doc.get("parse_errors", []))
            flagged = {norm(e["filename"]) for e in doc.get("errors", [])}
            flagged |= {norm(e["filename"]) for e in doc.get("parse_errors", []) if "filename" in e}
        elif parser == "ajv":
            # stderr: "<file> invalid" followed by a JSON array of errors; stdout: "<file> valid".
            for m in re.finditer(r"^(\S+) invalid$", se, re.M):
                flagged.add(norm(m.group(1)))
            errors = len(re.findall(r'"keyword":', se))
            bad = re.findall(r"^(\S+) (?:failed|error|cannot).*$", se, re.M)
            if bad:
                note = f"{len(bad)} file(s) not parsed"
        elif parser == "sourcemeta":
            text = so + se
            for m in re.finditer(r"^fail: (.+)$", text, re.M):
                flagged.add(norm(m.group(1)))
            errors = len(re.findall(r"^error: ", text, re.M))
    except Exception as e:  # a peer whose output changed shape: say so, do not fail
        note = f"could not parse output: {e!r}"
    linecol = "yes" if LINECOL.search(so + se) else "no"
    missed = sorted(expected - flagged)
    extra = sorted(flagged - expected)
    detail = note
    if missed:
        detail += (" " if detail else "") + f"missed e.g. {', '.join(missed[:3])}"
    if extra:
        detail += (" " if detail else "") + f"extra e.g. {', '.join(extra[:3])}"
    print("\t".join([name, rc, str(len(flagged)), str(len(missed)), str(len(extra)),
                     str(errors), linecol, detail]))
PY

printf '%-30s %5s %8s %7s %6s %8s  %s\n' tool exit flagged missed extra errors notes
while IFS=$'\t' read -r name rc flagged missed extra errors _linecol detail; do
    printf '%-30s %5s %8s %7s %6s %8s  %s\n' "$name" "$rc" "$flagged" "$missed" "$extra" "$errors" "$detail"
done <"$COUNTS"
say "(flagged = distinct files with at least one error; errors = error entries as the tool counts"
say " them, so they are not comparable across tools: ajv lists every failed oneOf branch)"

# A floor, not a peer: what merely reading the same files costs on this machine (one `cat`
# process over all of them). No validator can run below it.
add_tool "reference: cat (read only)" "cat $(cd "$CITY" && find . -name '*.yaml' | sort | tr '\n' ' ') >/dev/null" none

# ---------------------------------------------------------------------------------------------
section "timing ($RUNS runs, $WARMUP warm-up, cwd = the city directory)"
HYPERFINE=${HYPERFINE:-hyperfine}
if [[ "$HYPERFINE" == hyperfine ]] && ! command -v hyperfine >/dev/null && can_install && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    say "installing hyperfine with apt-get ..."
    { apt-get install -y -qq hyperfine || { apt-get update -qq && apt-get install -y -qq hyperfine; }; } \
        >"$TOOLS/apt.log" 2>&1 || say "  failed (see $TOOLS/apt.log); timing with a bash loop"
fi

TIMES="$WORK/times.tsv" # name \t median_s \t mean_s \t stddev_s \t min_s
: >"$TIMES"
if [[ "$HYPERFINE" != none ]] && command -v "$HYPERFINE" >/dev/null; then
    say "using $("$HYPERFINE" --version)"
    args=()
    for i in "${!NAMES[@]}"; do args+=(-n "${NAMES[$i]}" "${CMDS[$i]}"); done
    (cd "$CITY" && "$HYPERFINE" -i -w "$WARMUP" -r "$RUNS" --style basic \
        --export-json "$WORK/hyperfine.json" "${args[@]}") >"$WORK/hyperfine.txt" 2>&1
    grep -E '^(Benchmark|  Time|  Range)' "$WORK/hyperfine.txt" | sed 's/^/  /'
    python3 - "$WORK/hyperfine.json" >"$TIMES" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("\t".join([r["command"], repr(r["median"]), repr(r["mean"]), repr(r["stddev"] or 0.0), repr(r["min"])]))
PY
else
    say "hyperfine not available: bash loop with date +%s%N"
    for i in "${!NAMES[@]}"; do
        samples=()
        for ((w = 0; w < WARMUP; w++)); do (cd "$CITY" && sh -c "${CMDS[$i]}" >/dev/null 2>&1); done
        for ((r = 0; r < RUNS; r++)); do
            t0=$(date +%s%N)
            (cd "$CITY" && sh -c "${CMDS[$i]}" >/dev/null 2>&1)
            t1=$(date +%s%N)
            samples+=($((t1 - t0)))
        done
        python3 - "${NAMES[$i]}" "${samples[@]}" >>"$TIMES" <<'PY'
import statistics, sys
name, xs = sys.argv[1], [int(x) / 1e9 for x in sys.argv[2:]]
print("\t".join([name, repr(statistics.median(xs)), repr(statistics.mean(xs)),
                 repr(statistics.stdev(xs) if len(xs) > 1 else 0.0), repr(min(xs))]))
PY
        say "  ${NAMES[$i]}: done"
    done
fi

# ---------------------------------------------------------------------------------------------
section "results: $FILES files, $INVALID invalid, schema schemas/v1alpha1/all.json"
python3 - "$TIMES" "$COUNTS" <<'PY'
import sys
times = {}
for line in open(sys.argv[1]):
    name, med, mean, sd, mn = line.rstrip("\n").split("\t")
    times[name] = (float(med), float(mean), float(sd), float(mn))
counts = {}
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    counts[f[0]] = {"flagged": f[2], "linecol": f[6]}
if "gc" not in times:
    print("gc was not timed; no table")
    sys.exit(0)
gc = times["gc"][0]
fmt = "{:<30} {:>10} {:>16} {:>12} {:>8} {:>9}"
print(fmt.format("tool", "median", "mean ± σ", "ratio vs gc", "line:col", "flagged"))
print(fmt.format("-" * 30, "-" * 10, "-" * 16, "-" * 12, "-" * 8, "-" * 9))
for name, (med, mean, sd, mn) in times.items():
    c = counts.get(name, {})
    ratio = "1.00x" if name == "gc" else f"{med / gc:.2f}x"
    print(fmt.format(name, f"{med * 1e3:.1f} ms", f"{mean * 1e3:.1f} ± {sd * 1e3:.1f} ms", ratio,
                     c.get("linecol", "?"), c.get("flagged", "?")))
peers = {n: t[0] for n, t in times.items() if n != "gc" and not n.startswith("reference:")}
floor = {n: t[0] for n, t in times.items() if n.startswith("reference:")}
print()
if not peers:
    print("goal: gc at least 10x faster than the fastest peer: NOT MEASURED (no peer worked)")
else:
    fastest = min(peers, key=peers.get)
    ratio = peers[fastest] / gc
    verdict = "MET" if ratio >= 10 else "NOT MET"
    print(f"fastest peer: {fastest} ({peers[fastest] * 1e3:.1f} ms) vs gc ({gc * 1e3:.1f} ms)")
    full = {n: t for n, t in peers.items() if not n.endswith("--fast")}
    if full and min(full, key=full.get) != fastest:
        f2 = min(full, key=full.get)
        print(f"fastest peer in full-error mode: {f2} ({full[f2] * 1e3:.1f} ms), ratio {full[f2] / gc:.2f}")
    print(f"goal: gc at least 10x faster than the fastest peer: {verdict} (ratio {ratio:.2f})")
    for n, t in floor.items():
        need = peers[fastest] / 10
        print(f"floor: {n[len('reference: '):]} takes {t * 1e3:.1f} ms; 10x the fastest peer "
              f"needs {need * 1e3:.1f} ms{' (below the floor)' if need < t else ''}")
PY
exit 0
