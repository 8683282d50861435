#!/usr/bin/env python3
"""Kills `trainflow run` with SIGKILL at random moments and resumes each run.

Usage: kill_and_resume.py TRAINFLOW WORKFLOW SCRATCH_DIR ITERATIONS [SEED]

First one uninterrupted run gives the reference: every stage's output digests. Then, ITERATIONS
times, in a fresh work directory: start the run, SIGKILL it after a random delay (uniform over the
reference run's duration), note the stages whose success the run store had committed, and
`trainflow resume` the run (or run it again when the kill came before the run was recorded).
Each time:
  - the resume completes with exit code 0 (a run that had finished before the kill has nothing
    to resume);
  - every stage's output digests equal the reference's (the final artifacts are byte-identical);
  - no stage whose success was committed before the kill runs again (its cache outcome in the
    resumed run is "skipped" or "restored");
  - PRAGMA integrity_check of runs.db says ok, before and after the resume.
Exits 1 with the failures listed, 0 otherwise, printing a summary.
"""
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def digests(trainflow, workdir, run_id):
    shown = run([trainflow, "show", run_id, "--workdir", workdir, "--json"])
    if shown.returncode != 0:
        raise RuntimeError(f"show {run_id}: {shown.stderr}")
    doc = json.loads(shown.stdout)
    return doc, {s["name"]: s["outputs"] for s in doc["stages"]}


def integrity(workdir):
    path = os.path.join(workdir, "runs.db")
    if not os.path.exists(path):
        return "ok"
    con = sqlite3.connect(path, timeout=30)
    try:
        return ";".join(r[0] for r in con.execute("PRAGMA integrity_check"))
    finally:
        con.close()


def main():
    trainflow, workflow, scratch, iterations = sys.argv[1:5]
    iterations = int(iterations)
    rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else time.time_ns())
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    common = ["--threads", "2", "--json", "--no-progress"]

    ref_dir = os.path.join(scratch, "reference")
    start = time.monotonic()
    ref = run([trainflow, "run", workflow, "--workdir", ref_dir] + common)
    duration = time.monotonic() - start
    if ref.returncode != 0:
        print(f"reference run failed ({ref.returncode}): {ref.stderr}")
        return 1
    ref_id = json.loads(ref.stdout)["run_id"]
    _, reference = digests(trainflow, ref_dir, ref_id)

    failures = []
    kills_before_record = 0
    finished_before_kill = 0
    committed_total = 0
    for i in range(iterations):
        work = os.path.join(scratch, f"w{i}")
        delay = rng.uniform(0, duration)
        proc = subprocess.Popen([trainflow, "run", workflow, "--workdir", work] + common,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        problem = lambda msg: failures.append(f"iteration {i} (killed after {delay:.3f} s): {msg}")

        check = integrity(work)
        if check != "ok":
            problem(f"integrity_check after the kill: {check}")
            continue
        listed = run([trainflow, "runs", "--workdir", work, "--json"])
        runs = json.loads(listed.stdout) if listed.returncode == 0 else []
        if not runs:
            kills_before_record += 1
            again = run([trainflow, "run", workflow, "--workdir", work] + common)
            if again.returncode != 0:
                problem(f"run after an early kill exited {again.returncode}: {again.stderr}")
                continue
            run_id = json.loads(again.stdout)["run_id"]
            resumed = json.loads(again.stdout)
            committed = set()
        else:
            run_id = runs[0]["run_id"]
            before, _ = digests(trainflow, work, run_id)
            committed = {s["name"] for s in before["stages"] if s["status"] == "succeeded"}
            committed_total += len(committed)
            res = run([trainflow, "resume", run_id, "--workdir", work, "--json", "--no-progress"])
            if res.returncode != 0:
                problem(f"resume exited {res.returncode}: {res.stderr}")
                continue
            resumed = json.loads(res.stdout)
        if resumed.get("resumed") is False:
            # The kill came after the run had finished: nothing to resume, nothing ran again.
            finished_before_kill += 1
            committed = set()
        outcome = {s["name"]: s["cache"] for s in resumed.get("stages", [])}
        for name in sorted(committed):
            if outcome.get(name) not in ("skipped", "restored"):
                problem(f"stage {name} was committed before the kill but ran again "
                        f"({outcome.get(name)})")
        if resumed["status"] != "succeeded":
            problem(f"resumed run ended {resumed['status']}")
        _, final = digests(trainflow, work, run_id)
        for name, outputs in reference.items():
            if final.get(name) != outputs:
                problem(f"stage {name}: outputs {final.get(name)} differ from the reference "
                        f"{outputs}")
        check = integrity(work)
        if check != "ok":
            problem(f"integrity_check after the resume: {check}")
        shutil.rmtree(work, ignore_errors=True)

    print(f"{iterations} kills (reference run {duration:.2f} s), {kills_before_record} before the "
          f"run was recorded, {finished_before_kill} after it had finished, {committed_total} "
          f"committed stages checked; {len(failures)} failure(s)")
    for f in failures:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
