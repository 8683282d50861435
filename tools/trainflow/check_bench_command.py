#!/usr/bin/env python3
"""Checks `trainflow bench` on a fresh work directory: its text and JSON output for a transform
and a training stage, and its errors (no run yet, unknown stage, a sweep's name, inputs that
are not stored, a bad --threads).

Usage: check_bench_command.py TRAINFLOW WORKFLOW SCRATCH_DIR
"""
import json
import re
import shutil
import subprocess
import sys

trainflow, workflow, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
failures = []


def tf(*args, expect=0):
    p = subprocess.run([trainflow, *args, "--workdir", work], capture_output=True, text=True)
    if p.returncode != expect:
        failures.append(f"trainflow {' '.join(args)}: exit {p.returncode}, expected {expect}\n"
                        f"{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return p


def check(cond, what):
    if not cond:
        failures.append(what)


# Nothing recorded yet: say which command stores the inputs.
none = tf("bench", workflow, "--stage", "features", expect=2)
check("no runs recorded here" in none.stderr and "trainflow run" in none.stderr,
      f"bench before any run: {none.stderr}")

run = json.loads(tf("run", workflow, "--json", "--threads", "2", "--no-progress").stdout or "{}")
run_id = run.get("run_id", "?")
check(run.get("status") == "succeeded", f"the workflow run: {run}")

# A transform stage at two grants: a header naming the run, each input with its rows, and one
# line per grant with the times, throughput and the copy-bandwidth ratio.
text = tf("bench", workflow, "--stage", "features", "--threads", "1", "--threads", "2",
          "--repetitions", "3").stdout
check(f"stage features (column_transformer) of bench_small, inputs from run {run_id}" in text,
      f"bench header: {text}")
check(re.search(r"input train: [0-9.]+ kB, 2400 rows \(split\.train\)", text),
      f"bench inputs: {text}")
check(re.search(r"input test: [0-9.]+ kB, 600 rows \(split\.test\)", text), f"inputs: {text}")
for threads in (1, 2):
    line = (rf"threads={threads}: median [0-9.]+ ms, min [0-9.]+ ms, max [0-9.]+ ms \(3 runs\); "
            r"[0-9.]+ MB/s, [0-9.e+]+ rows/s; copy [0-9.]+ GB/s, ratio [0-9.]+; "
            r"GEMM n/a \(not a training stage\)")
    check(re.search(line, text), f"bench line for {threads} threads: {text}")

# A training stage in JSON: the GEMM baseline of its precision and an estimated FLOP count.
doc = json.loads(tf("bench", workflow, "--stage", "logistic[l2=0.1]", "--threads", "1",
                    "--repetitions", "2", "--json").stdout or "{}")
check(doc.get("run_id") == run_id and doc.get("type") == "logistic_regression",
      f"bench json header: {doc}")
check([i["from"] for i in doc.get("inputs", [])] == ["features.train"], f"json inputs: {doc}")
results = doc.get("results", [])
check(len(results) == 1, f"one grant: {doc}")
if results:
    r = results[0]
    check(r["threads"] == 1 and r["runs"] == 2, f"grant and runs: {r}")
    check(0 < r["min_s"] <= r["median_s"] <= r["max_s"], f"times ordered: {r}")
    check(r["rows_per_s"] > 0 and r["bytes_per_s"] > 0 and r["copy_bytes_per_s"] > 1e8,
          f"throughput and bandwidth: {r}")
    gemm = r.get("gemm") or {}
    check(gemm.get("precision") == "fp64" and gemm.get("peak_flop_per_s", 0) > 1e8 and
          gemm.get("flop", 0) > 0 and 0 < gemm.get("ratio", 0) < 10, f"gemm: {gemm}")
# --min-time keeps running past --repetitions.
timed = json.loads(tf("bench", workflow, "--stage", "features", "--threads", "1",
                      "--repetitions", "1", "--min-time", "0.2", "--json").stdout or "{}")
runs = (timed.get("results") or [{}])[0].get("runs", 0)
check(runs > 1, f"--min-time 0.2 ran {runs} times")

# Errors: what, and how to fix it.
unknown = tf("bench", workflow, "--stage", "featurs", expect=2)
check("no stage called 'featurs'; did you mean 'features'?" in unknown.stderr and
      "customers split features" in unknown.stderr, f"unknown stage: {unknown.stderr}")
sweep = tf("bench", workflow, "--stage", "logistic", expect=2)
check("'logistic' is a sweep of 2 trials" in sweep.stderr and "'logistic[l2=1.0]'" in sweep.stderr,
      f"a sweep's name: {sweep.stderr}")
uncached = tf("bench", workflow, "--stage", "score", expect=2)
check("input 'model' is not cached: 'mlp' has `cache: false`" in uncached.stderr,
      f"inputs not stored: {uncached.stderr}")
bad = tf("bench", workflow, "--stage", "features", "--threads", "0", expect=2)
check("--threads 0" in bad.stderr, f"--threads 0: {bad.stderr}")
tf("bench", workflow, "--stage", "features", "--repetitions", "0", expect=2)
other = tf("bench", workflow, "--stage", "features", "--set", "customers.rows=10",
           "--json").stdout
check('"rows": 2400' in other, "--set changes the stage, not the stored inputs")

if failures:
    print("\n\n".join(failures))
    sys.exit(1)
print("bench command: ok")
