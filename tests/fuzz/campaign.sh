#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Resumable libFuzzer campaign over every fuzz target (issue 13).
#
#   tests/fuzz/campaign.sh [--build-dir DIR] [--state DIR] [--minutes N] [--slice SEC] [--targets "a b"]
#                          [--no-build] [--report]
#
# Builds the <target>-libfuzzer binaries in a clang build directory (-DNODELET_FUZZ=ON -DNODELET_SANITIZE=ON:
# ASan+UBSan+libFuzzer) and copies them to STATE/bin, so that rebuilding the tree does not change a running campaign.
# Then, round-robin in slices of SLICE seconds, runs each target under `nice -n 19` with -rss_limit_mb=2048
# -timeout=10 and a -max_len that suits its format, until it has accumulated N CPU-minutes (default 30). CPU time
# (the fuzzer's user+system time, from the shell's `times` after each slice) and executions are added up in
# STATE/state.tsv after every slice, so the campaign can be stopped (SIGTERM/SIGINT: the running slice is stopped
# and counted) and resumed later with the same command. New inputs go to a work corpus (STATE/corpus/TARGET); when
# a target reaches its quota they are minimised together with the committed corpus (-merge=1), and the smallest of
# the result (up to 200 files / 2 MiB) become the committed corpus; hand-named seeds are always kept.
# Crashes, leaks, timeouts and OOMs are kept in STATE/artifacts/TARGET/ and reported; a target that crashed 3 times
# is not run again until its artifacts are removed. After every slice it writes the summary table into
# docs/fuzzing.md; at the end (and with --report alone, also while a campaign runs) it prints it too.
set -u

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$SRC/build/fuzz
STATE=/work/fuzz-state
MINUTES=30
SLICE=300
BUILD_IT=1
REPORT_ONLY=0
ONLY=""

while [ $# -gt 0 ]; do
        case $1 in
        --build-dir) BUILD=$(realpath -m "$2"); shift 2 ;;
        --state) STATE=$(realpath -m "$2"); shift 2 ;;
        --minutes) MINUTES=$2; shift 2 ;;
        --slice) SLICE=$2; shift 2 ;;
        --targets) ONLY=$2; shift 2 ;;
        --no-build) BUILD_IT=0; shift ;;
        --report) REPORT_ONLY=1; shift ;;
        -h | --help) sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "campaign.sh: unknown argument $1" >&2; exit 2 ;;
        esac
done

# target  corpus (committed, relative to the source tree)  dictionary  max_len
TARGETS="
fuzz-yaml               tests/fuzz/corpus/yaml          yaml      16384
fuzz-json-stream        tests/fuzz/corpus/json-stream   json      16384
test-images-fuzz        tests/runtime/images/corpus     json      16384
fuzz-registry           tests/fuzz/corpus/registry      json      16384
fuzz-layer              tests/fuzz/corpus/layer         tar       65536
test-cni-fuzz           tests/cni/corpus                json      16384
test-netproxy-fuzz      tests/netproxy/corpus           yaml      32768
test-runtime-fuzz       tests/runtime/containers/corpus json      16384
test-agent-pod-fuzz     tests/agent/corpus/pod          yaml      16384
fuzz-config             tests/fuzz/corpus/config        yaml      16384
fuzz-kubeconfig         tests/fuzz/corpus/kubeconfig    yaml      8192
fuzz-informer           tests/fuzz/corpus/informer      json      32768
fuzz-websocket          tests/fuzz/corpus/websocket     websocket 8192
fuzz-spdy               tests/fuzz/corpus/spdy          spdy      8192
fuzz-http               tests/fuzz/corpus/http          http      8192
"

log() { echo "campaign: $*" >&2; }

declare -A CPU EXECS COV FT CRASHES STATUS
load_state() {
        [ -f "$STATE/state.tsv" ] || return 0
        while IFS=$'\t' read -r t cpu execs cov ft crashes status; do
                [ "$t" = target ] && continue
                CPU[$t]=$cpu EXECS[$t]=$execs COV[$t]=$cov FT[$t]=$ft CRASHES[$t]=$crashes STATUS[$t]=$status
        done <"$STATE/state.tsv"
}
save_state() {
        {
                printf 'target\tcpu_sec\texecs\tcov\tft\tcrashes\tstatus\n'
                echo "$TARGETS" | while read -r t _; do
                        [ -n "$t" ] || continue
                        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${CPU[$t]:-0}" "${EXECS[$t]:-0}" "${COV[$t]:-0}" \
                                "${FT[$t]:-0}" "${CRASHES[$t]:-0}" "${STATUS[$t]:-pending}"
                done
        } >"$STATE/state.tsv.tmp" && mv "$STATE/state.tsv.tmp" "$STATE/state.tsv"
}

# Sets CHILDREN_CPU to the reaped children's accumulated user+system seconds: `times` (second line) must run in
# this shell, not in a command substitution's subshell, whose children are its own.
children_cpu() {
        times >"$STATE/times"
        CHILDREN_CPU=$(tail -n 1 "$STATE/times" | awk '{ t = 0
                for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
                printf "%d\n", t }')
}

report() {
        local table
        table=$(
                echo "| target | CPU-minutes | executions | coverage (cov / ft) | crashes, leaks, timeouts | status |"
                echo "|---|---|---|---|---|---|"
                echo "$TARGETS" | while read -r t _; do
                        [ -n "$t" ] || continue
                        printf '| %s | %d | %d | %s / %s | %s | %s |\n' "$t" $((${CPU[$t]:-0} / 60)) "${EXECS[$t]:-0}" \
                                "${COV[$t]:-0}" "${FT[$t]:-0}" "${CRASHES[$t]:-0}" "${STATUS[$t]:-pending}"
                done
                total_cpu=0 total_execs=0
                for t in "${!CPU[@]}"; do
                        total_cpu=$((total_cpu + ${CPU[$t]:-0}))
                        total_execs=$((total_execs + ${EXECS[$t]:-0}))
                done
                printf '| **total** | %d (%s h) | %d | | | |\n' $((total_cpu / 60)) \
                        "$(awk -v s="$total_cpu" 'BEGIN { printf "%.1f", s / 3600 }')" "$total_execs"
        )
        echo "$table"
        local doc=$SRC/docs/fuzzing.md
        [ -f "$doc" ] || return 0
        /usr/bin/python3 - "$doc" "$table" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$MINUTES" <<'EOF'
import sys
doc, table, when, minutes = sys.argv[1:]
text = open(doc).read()
begin, end = "<!-- campaign:begin -->", "<!-- campaign:end -->"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    body = "\n_Last updated %s by tests/fuzz/campaign.sh (quota %s CPU-minutes per target)._\n\n%s\n" % (
        when, minutes, table)
    open(doc + ".tmp", "w").write(head + begin + body + end + tail)
    import os
    os.replace(doc + ".tmp", doc)
EOF
}

build() {
        local targets
        targets=$(echo "$TARGETS" | awk 'NF { print $1 "-libfuzzer" }')
        cmake -S "$SRC" -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNODELET_FUZZ=ON \
                -DNODELET_SANITIZE=ON >/dev/null || return 1
        # shellcheck disable=SC2086
        nice -n 19 cmake --build "$BUILD" -j2 --target $targets >"$STATE/build.log" 2>&1 || {
                log "build failed, see $STATE/build.log"
                return 1
        }
        mkdir -p "$STATE/bin"
        for t in $targets; do
                cp -f "$(find "$BUILD/tests" -name "$t" -type f -perm -u+x | head -n 1)" "$STATE/bin/$t.new" &&
                        mv -f "$STATE/bin/$t.new" "$STATE/bin/$t"
        done
}

# Minimises committed + work corpus with -merge=1 into a fresh directory (the smallest inputs that keep every
# feature), then makes that the committed corpus: inputs named by libFuzzer (SHA-1 of the content) are replaced,
# hand-named seeds and regression inputs are always kept.
merge() {
        local t=$1 corpus=$SRC/$2 bin=$STATE/bin/$1-libfuzzer new=$STATE/merge/$1
        [ -x "$bin" ] && [ -d "$STATE/corpus/$t" ] || return 0
        log "$t: merging new inputs into $2"
        rm -rf "$new" && mkdir -p "$new"
        if ! nice -n 19 "$bin" -merge=1 -rss_limit_mb=2048 -timeout=10 "$new" "$corpus" "$STATE/corpus/$t" \
                </dev/null >"$STATE/logs/$t.merge.log" 2>&1; then
                log "$t: merge failed, see $STATE/logs/$t.merge.log"
                return 0
        fi
        local keep f
        keep=$(find "$corpus" -maxdepth 1 -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' -exec sha1sum {} + | cut -d' ' -f1)
        find "$corpus" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
        # libFuzzer's merge keeps every input with a feature of its own (hit-count buckets too), often several
        # hundred: the committed corpus takes the smallest of them up to 200 files / 2 MiB, the full set stays in
        # the work corpus for the next campaign.
        local n size
        n=$(find "$corpus" -type f | wc -l)
        size=$(du -sk "$corpus" | cut -f1)
        while read -r _ f; do
                [ -n "$f" ] || continue
                grep -qx "$(basename "$f")" <<<"$keep" && continue
                [ "$n" -lt 200 ] && [ $((size + $(stat -c %s "$f") / 1024 + 4)) -le 2048 ] || break
                cp "$f" "$corpus/"
                n=$((n + 1))
                size=$((size + $(stat -c %s "$f") / 1024 + 4))
        done < <(find "$new" -type f -printf '%s %p\n' | sort -n)
        log "$t: committed corpus: $n files, $(du -sk "$corpus" | cut -f1) KiB ($(find "$new" -type f | wc -l) after merge)"
        rm -rf "$new"
}

CHILD=0
STOP=0
on_signal() {
        STOP=1
        [ "$CHILD" -gt 0 ] && kill -TERM "$CHILD" 2>/dev/null
}
trap on_signal TERM INT

# Runs one slice of target t; updates its counters.
run_slice() {
        local t=$1 corpus=$2 dict=$3 max_len=$4 bin=$STATE/bin/$1-libfuzzer budget=$5
        local before after slog=$STATE/logs/$t.log artifacts=$STATE/artifacts/$t/ rc
        mkdir -p "$STATE/corpus/$t" "$artifacts" "$STATE/tmp"
        children_cpu
        before=$CHILDREN_CPU
        # shellcheck disable=SC2086
        TMPDIR=$STATE/tmp nice -n 19 "$bin" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" \
                -max_total_time="$budget" -print_final_stats=1 -artifact_prefix="$artifacts" \
                ${dict:+-dict=$SRC/tests/fuzz/dict/$dict.dict} "$STATE/corpus/$t" "$SRC/$corpus" </dev/null >"$slog" 2>&1 &
        CHILD=$!
        wait "$CHILD"
        rc=$?
        # wait returns early when a signal arrives: wait again for the fuzzer itself to be reaped and counted
        while kill -0 "$CHILD" 2>/dev/null; do wait "$CHILD"; done
        CHILD=0
        children_cpu
        after=$CHILDREN_CPU
        CPU[$t]=$((${CPU[$t]:-0} + after - before))
        local execs cov ft
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$slog" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$slog" | tail -n 1 | cut -d' ' -f2)
        ft=$(grep -o 'ft: [0-9]*' "$slog" | tail -n 1 | cut -d' ' -f2)
        EXECS[$t]=$((${EXECS[$t]:-0} + ${execs:-0}))
        COV[$t]=${cov:-${COV[$t]:-0}}
        FT[$t]=${ft:-${FT[$t]:-0}}
        CRASHES[$t]=$(find "$artifacts" -type f | wc -l)
        if [ "$rc" -ne 0 ] && [ "$STOP" -eq 0 ]; then
                log "$t: fuzzer exited with $rc; artifacts in $artifacts, log kept as $slog.$(date +%s)"
                cp "$slog" "$slog.$(date +%s)"
        fi
        STATUS[$t]=running
        save_state
        report >/dev/null # docs/fuzzing.md shows what ran so far
}

mkdir -p "$STATE/logs"
load_state
if [ "$REPORT_ONLY" -eq 1 ]; then
        report
        exit 0
fi
exec 9>"$STATE/lock"
flock -n 9 || { log "another campaign runs on $STATE"; exit 1; }
if [ "$BUILD_IT" -eq 1 ]; then
        build || exit 1
fi

quota=$((MINUTES * 60))
while [ "$STOP" -eq 0 ]; do
        progress=0
        while read -r t corpus dict max_len; do
                [ -n "$t" ] || continue
                [ -z "$ONLY" ] || [[ " $ONLY " == *" $t "* ]] || continue
                [ "$STOP" -eq 0 ] || break
                [ -x "$STATE/bin/$t-libfuzzer" ] || { STATUS[$t]="not built"; continue; }
                [ "${CRASHES[$t]:-0}" -lt 3 ] || { STATUS[$t]=crashed; continue; }
                left=$((quota - ${CPU[$t]:-0}))
                if [ "$left" -le 0 ]; then
                        if [ "${STATUS[$t]:-}" != done ]; then
                                merge "$t" "$corpus"
                                STATUS[$t]=done
                                save_state
                        fi
                        continue
                fi
                log "$t: $((${CPU[$t]:-0} / 60))/$MINUTES CPU-minutes, slice of $((left < SLICE ? left : SLICE)) s"
                run_slice "$t" "$corpus" "$dict" "$max_len" $((left < SLICE ? left : SLICE))
                progress=1
        done <<<"$TARGETS"
        [ "$progress" -eq 1 ] || break
done
save_state
report
