#!/usr/bin/env bash
# Benchmark v3's registered runs (protocol 3.0), resumable across machines whose disks do not survive.
#
# The runs take longer than one session (docs/benchmark-v3.md, "the freeze"), and a session's disk may be
# gone at the next: so their state (the run folders with their cached agents, the per-member rows, the
# oracles' unit cache and the ledger) lives in this checkout's git history, and the runs themselves go on
# in a worktree at the freeze commit, the code the ledger names.
#
#   benchmarks/v3/registered_runs.sh run    # restore the state into the worktree, then resume every step
#   benchmarks/v3/registered_runs.sh restore   # only restore it (a worktree that exists is left as it is)
#   benchmarks/v3/registered_runs.sh save   # copy the state back into this checkout (then commit it)
#   benchmarks/v3/registered_runs.sh status # what this checkout's state holds so far
#
# `run` resumes in order: v3/stream on test, its oracles on test, its transfer run; the same for v3/mlp.
# Each step resumes from what its folder holds (a member's rows are written as it finishes, an agent is
# cached when its meta-training ends); what was in flight when the session ended is redone. Every resumed
# run that scores test or transfer members files new `start` rows in the ledger. Environment: WORKTREE
# (default /work/v3run), WORKERS (2), PYTHON (python).
set -euo pipefail
MAIN="$(cd "$(dirname "$0")/../.." && pwd)"
FREEZE=99fe79a            # "Freeze benchmark v3 protocol 3.0": the code every registered run uses
WORKTREE="${WORKTREE:-/work/v3run}"
WORKERS="${WORKERS:-2}"
PYTHON="${PYTHON:-python}"
STATE=(benchmarks/results/v3/ledger.csv benchmarks/results/v3/test benchmarks/results/v3/transfer
       benchmarks/results/v3/oracle-cache benchmarks/results/v3/stream/test-oracles
       benchmarks/results/v3/mlp/test-oracles)

copy_state() {  # copy_state FROM TO: each state path FROM holds replaces TO's
    for p in "${STATE[@]}"; do
        if [ -e "$1/$p" ]; then
            mkdir -p "$(dirname "$2/$p")"
            rm -rf "${2:?}/$p"
            cp -a "$1/$p" "$2/$p"
        fi
    done
}

log() { echo "$(date -u +%FT%TZ) $*" | tee -a "$WORKTREE/registered-runs.log"; }

case "${1:-}" in
save)
    test -d "$WORKTREE" || { echo "no worktree at $WORKTREE: nothing to save" >&2; exit 1; }
    copy_state "$WORKTREE" "$MAIN"
    echo "state copied into $MAIN; commit benchmarks/results/v3"
    ;;
restore|run)
    if [ ! -d "$WORKTREE" ]; then
        git -C "$MAIN" worktree add -f "$WORKTREE" "$FREEZE"
        copy_state "$MAIN" "$WORKTREE"
    fi
    test "$(git -C "$WORKTREE" rev-parse --short=7 HEAD)" = "$FREEZE" \
        || { echo "$WORKTREE is not at the freeze commit $FREEZE" >&2; exit 1; }
    [ "$1" = run ] || { echo "$WORKTREE holds the state; resume with: $0 run"; exit 0; }
    cd "$WORKTREE"
    export PYTHONPATH="$WORKTREE"
    for suite in v3/stream v3/mlp; do
        folder="${suite/\//_}"
        log "$suite: test"
        "$PYTHON" -m agents.cli bench --v3 --split test --suite "$suite" --out benchmarks/results/v3/test \
            --workers "$WORKERS"
        log "$suite: oracles on test"
        "$PYTHON" benchmarks/v3/gates.py --split test --suite "$suite" --cache benchmarks/results/v3/oracle-cache \
            --workers "$WORKERS"
        log "$suite: transfer"
        mkdir -p "benchmarks/results/v3/transfer/$folder"
        [ -e "benchmarks/results/v3/transfer/$folder/cache" ] \
            || ln -s "../../test/$folder/cache" "benchmarks/results/v3/transfer/$folder/cache"
        "$PYTHON" -m agents.cli bench --v3 --split transfer --suite "$suite" --out benchmarks/results/v3/transfer \
            --workers "$WORKERS"
    done
    log "every registered run is done: copy the state back (save), then python benchmarks/v3/headline.py"
    ;;
status)
    cd "$MAIN"
    for folder in benchmarks/results/v3/test/* benchmarks/results/v3/transfer/*; do
        [ -d "$folder" ] || continue
        agents=$(find -L "$folder/cache" -name '*.json' 2>/dev/null | wc -l)
        members=0
        [ -f "$folder/results.csv" ] && members=$(tail -n +2 "$folder/results.csv" | cut -d, -f3 | sort -u | wc -l)
        echo "$folder: $agents meta-trained agents cached, $members members with rows"
    done
    for oracles in benchmarks/results/v3/*/test-oracles; do
        [ -f "$oracles/members.csv" ] && echo "$oracles: done"
    done
    ledger=benchmarks/results/v3/ledger.csv
    if [ -f "$ledger" ]; then
        echo "$ledger: $(grep -c ',start,' "$ledger") start rows, $(grep -c ',end,' "$ledger") end rows"
    else
        echo "$ledger: none yet (filed when the first deployment on test members begins)"
    fi
    ;;
*)
    echo "usage: $0 run|restore|save|status" >&2; exit 2 ;;
esac
