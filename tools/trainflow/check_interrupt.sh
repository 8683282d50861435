#!/usr/bin/env bash
# check_interrupt.sh MODE TRAINFLOW WORKFLOW SCRATCH: interrupts `trainflow run WORKFLOW` and
# checks that it exits with 130, soon. WORKFLOW must run long enough to be interrupted (tens of
# seconds) in stages that are each short. SCRATCH is a directory of its own (emptied first).
#   plain  --json to a file; one SIGINT once the run started: a JSON report of a cancelled run.
#   twice  SIGINT, then SIGTERM at once: exits at once.
#   tty    under script(1), so that stdout is a terminal: waits for the progress line, one SIGINT;
#          the progress line was drawn and erased, and the table of the cancelled run follows.
# Nothing depends on the machine's speed: every wait polls, with limits of a minute.
set -u
mode=$1 trainflow=$2 workflow=$3 scratch=$4
rm -rf "$scratch" && mkdir -p "$scratch" || exit 1
workdir=$scratch/workdir

fail() {
  echo "FAIL ($mode): $*"
  for f in "$scratch"/out "$scratch"/err; do
    [[ -f $f ]] && { echo "--- $f (last 40 lines)"; tail -n 40 "$f" | cat -v; }
  done
  [[ -n ${pid:-} ]] && kill -KILL "$pid" 2>/dev/null
  exit 1
}

# Polls `$@` every 50 ms for up to 60 s; fails with the message in $what.
wait_for() {
  for ((i = 0; i < 1200; ++i)); do
    "$@" && return 0
    sleep 0.05
  done
  fail "timed out waiting: $what"
}

alive() { kill -0 "$pid" 2>/dev/null; }

# Waits up to 60 s for $pid, a child of this shell, to exit; sets rc, and secs to how long
# that took.
wait_exit() {
  local start=$SECONDS
  what="the process to exit after the signal" wait_for eval '! alive'
  wait "$pid"
  rc=$?
  secs=$((SECONDS - start))
}

case $mode in
  plain | twice)
    "$trainflow" run "$workflow" --workdir "$workdir" --json --threads 2 \
      >"$scratch/out" 2>"$scratch/err" &
    pid=$!
    # The command creates the work directory once the workflow loaded, right before the run
    # starts; signals are held from before loading, so none is lost after this.
    what="the work directory" wait_for test -d "$workdir"
    sleep 0.5
    alive || fail "the run ended before it was interrupted; make the workflow longer"
    kill -INT "$pid"
    [[ $mode == twice ]] && kill -TERM "$pid"
    wait_exit
    [[ $rc == 130 ]] || fail "exit code $rc, expected 130"
    if [[ $mode == plain ]]; then
      grep -q 'run cancelled: [0-9]* of [0-9]* stages did not run' "$scratch/out" ||
        fail "no JSON report of a cancelled run on stdout"
      grep -q '"status": "cancelled"' "$scratch/out" || fail "no stage or run is cancelled"
      grep -q 'SIGINT: cancelling the run' "$scratch/err" || fail "no message on stderr"
    fi
    ;;
  tty)
    command -v script >/dev/null || { echo "script(1) (util-linux) is not installed"; exit 77; }
    # script runs the command on a new pseudo-terminal and copies what it prints to the file
    # `out` (-f: at once, not when a buffer fills); sh writes its pid (the exec'd trainflow's)
    # first. -e: script exits with the command's exit code.
    script -qefc "sh -c 'echo \$\$ >\"$scratch/pid\"; exec \"$trainflow\" run \"$workflow\" \
      --workdir \"$workdir\" --threads 2'" "$scratch/out" </dev/null >/dev/null 2>&1 &
    script_pid=$!
    what="a progress line" wait_for grep -Esq '\[[0-9]+/[0-9]+\] [0-9]+ running' "$scratch/out"
    kill -INT "$(cat "$scratch/pid")"
    pid=$script_pid
    wait_exit
    [[ $rc == 130 ]] || fail "exit code $rc, expected 130"
    out=$scratch/out
    grep -aq $'\r\\[[0-9]*/[0-9]*\\] [0-9]* running.* | [0-9.]* s\e\\[K' "$out" ||
      fail "no progress line redrawn in place"
    # The line is erased ("\r\e[K") on the signal and at the end; the table follows, and no
    # progress line comes after it. (grep, not bash patterns: those are slow on long text.)
    last_clear=$(grep -abo $'\e\\[K' "$out" | tail -n 1 | cut -d: -f1)
    last_erase=$(grep -abo $'\r\e\\[K' "$out" | tail -n 1 | cut -d: -f1)
    [[ -n $last_clear && $last_erase == $((last_clear - 1)) ]] ||
      fail "the last progress line was not erased"
    tail -c "+$((last_clear + 4))" "$out" >"$scratch/after"
    grep -aEq '^run [^ ]+ of many_fits: cancelled' "$scratch/after" ||
      fail "no table after the progress line"
    grep -aEq '^fit\[seed=40,noise_stddev=0.4\] +cancelled' "$scratch/after" ||
      fail "the table does not end with the cancelled stages"
    grep -aq 'SIGINT: cancelling the run' "$out" || fail "no message on stderr"
    grep -aq 'run cancelled: ' "$scratch/after" || fail "no cancellation message"
    ;;
  *)
    echo "unknown mode $mode"
    exit 1
    ;;
esac
echo "ok ($mode): exit code 130 after ${secs}s"
