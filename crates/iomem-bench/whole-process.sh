#!/usr/bin/env bash
# Whole-process time and peak memory of the `iomem` command beside the
# procfs-core peer (`iomem-peer`) on generated dumps, alternating the two
# (A B A B ...), median of RUNS runs each, measured by /usr/bin/time -v.
#
#   cargo build --release -p iomem-cli -p iomem-bench --bins
#   crates/iomem-bench/whole-process.sh [TARGET_DIR] [RUNS] [SIZES...]
#
# TARGET_DIR defaults to target/release; RUNS to 5; SIZES to 100000 1000000.
# Prints one row per command: median wall seconds and peak RSS (MiB) of
# `iomem`, of the peer, and the ratio of the medians.
set -euo pipefail
bin=${1:-target/release}
runs=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(100000 1000000)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# One run: "seconds KiB".
measure() {
    /usr/bin/time -f '%e %M' -o "$dir/t" "$@" >/dev/null 2>"$dir/err" || true
    cat "$dir/t"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-8s %-7s %-40s %9s %9s %9s %9s %7s\n' shape size command 'iomem s' 'iomem MiB' 'peer s' 'peer MiB' ratio
for size in "${sizes[@]}"; do
    for shape in bars virtio; do
        f="$dir/$shape-$size.txt"
        "$bin/gen-dump" "$shape" "$size" "$f" >/dev/null
        while IFS='|' read -r label cmd peer; do
            : >"$dir/a"
            : >"$dir/b"
            # A warm-up of each, then alternate.
            measure $cmd >/dev/null
            measure $peer >/dev/null
            for _ in $(seq "$runs"); do
                measure $cmd >>"$dir/a"
                measure $peer >>"$dir/b"
            done
            at=$(cut -d' ' -f1 "$dir/a" | median)
            am=$(cut -d' ' -f2 "$dir/a" | median)
            bt=$(cut -d' ' -f1 "$dir/b" | median)
            bm=$(cut -d' ' -f2 "$dir/b" | median)
            printf '%-8s %-7s %-40s %9s %9.0f %9s %9.0f %7.2f\n' "$shape" "$size" "$label" "$at" "$((am / 1024))" \
                "$bt" "$((bm / 1024))" "$(awk -v a="$at" -v b="$bt" 'BEGIN {print (b > 0 ? a / b : 0)}')"
        done <<EOF
show --format proc|$bin/iomem show --file $f --format proc|$bin/iomem-peer proc $f
show --json|$bin/iomem show --file $f --json|$bin/iomem-peer json $f
check --file F 0-ffffffffffffffff|$bin/iomem check --file $f 0-ffffffffffffffff|$bin/iomem-peer ram $f
safe --file F|$bin/iomem safe --file $f|$bin/iomem-peer ram $f
EOF
    done
done
