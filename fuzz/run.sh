#!/usr/bin/env bash
# Builds the AFL++ targets and fuzzes each for SECONDS, one after another
# (one afl-fuzz process at a time), then reports per target: execs done,
# execs/s, saved crashes and hangs, and the paths of the findings.
#
#   ./run.sh SECONDS [TARGET...]     # default: every target
#
# Exits 1 if any target saved a crash, 2 on usage or setup errors.
# Findings stay in out/<target>/default/{crashes,hangs}/; the previous run's
# output directory is kept as out/<target>.prev. Fuzzer output goes to
# out/<target>.log. Extra afl-fuzz options can be passed in AFL_FUZZ_ARGS
# (e.g. AFL_FUZZ_ARGS="-t 2000").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
all_targets=(procfs_parse infer_flags system_readers virtio_mem_device driver_answers scenario_files)

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -eq 0 ]; then
    echo "usage: $0 SECONDS [TARGET...]   (targets: ${all_targets[*]})" >&2
    exit 2
fi
seconds=$1
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    case " ${all_targets[*]} " in
        *" $t "*) ;;
        *) echo "$0: unknown target $t (known: ${all_targets[*]})" >&2; exit 2 ;;
    esac
done

if ! cargo afl --version >/dev/null 2>&1; then
    echo "$0: cargo-afl is missing: cargo install cargo-afl --locked && cargo afl config --build" >&2
    exit 2
fi

echo "== building (cargo afl build --release)"
cargo afl build --release

for t in "${targets[@]}"; do
    if [ -z "$(ls -A "corpus/$t" 2>/dev/null)" ]; then
        echo "== seeding corpus/$t"
        ./seeds.sh "$t"
    fi
done

# Non-interactive, sandbox-friendly afl-fuzz: no curses UI, no CPU-frequency
# or core_pattern checks, no CPU pinning (the scheduler shares the cores).
export AFL_NO_UI=1
export AFL_SKIP_CPUFREQ=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_NO_AFFINITY=1
export AFL_NO_WARN_INSTABILITY=1

mkdir -p out
for t in "${targets[@]}"; do
    if [ -d "out/$t" ]; then
        rm -rf "out/$t.prev"
        mv "out/$t" "out/$t.prev"
    fi
    echo "== fuzzing $t for ${seconds}s (log: out/$t.log)"
    # afl-fuzz exits 0 when -V expires; a failure here is a setup problem.
    # shellcheck disable=SC2086
    # The per-test-case status lines of AFL_NO_UI are dropped from the log.
    if ! cargo afl fuzz -V "$seconds" ${AFL_FUZZ_ARGS:-} -i "corpus/$t" -o "out/$t" "target/release/$t" 2>&1 |
        { grep -av 'Fuzzing test case #' || true; } >"out/$t.log"; then
        echo "$0: afl-fuzz failed for $t; the end of out/$t.log:" >&2
        tail -n 30 "out/$t.log" >&2
    fi
done

stat() { # stat FILE KEY
    sed -n "s/^$2 *: *//p" "$1" 2>/dev/null | head -n 1
}

echo
printf '%-18s %12s %10s %8s %8s %9s %8s\n' target execs_done execs/s crashes hangs run_time corpus
status=0
findings=()
for t in "${targets[@]}"; do
    s="out/$t/default/fuzzer_stats"
    if [ ! -f "$s" ]; then
        printf '%-18s %s\n' "$t" "no fuzzer_stats (see out/$t.log)"
        status=2
        continue
    fi
    crashes=$(stat "$s" saved_crashes)
    hangs=$(stat "$s" saved_hangs)
    printf '%-18s %12s %10s %8s %8s %8ss %8s\n' "$t" "$(stat "$s" execs_done)" "$(stat "$s" execs_per_sec)" \
        "$crashes" "$hangs" "$(stat "$s" run_time)" "$(stat "$s" corpus_count)"
    for f in "out/$t/default/crashes"/id:* "out/$t/default/hangs"/id:*; do
        [ -e "$f" ] && findings+=("$f")
    done
    if [ "${crashes:-0}" -gt 0 ]; then
        status=$((status == 2 ? 2 : 1))
    fi
done

if [ ${#findings[@]} -gt 0 ]; then
    echo
    echo "findings (reproduce: target/release/<target> < FILE; keep one: cp FILE regressions/<target>/<name>):"
    printf '  %s\n' "${findings[@]}"
fi
exit "$status"
