#!/usr/bin/env python3
"""Checks `trainflow runs`, `show`, `diff` and `resume` on a fresh work directory.

Usage: check_store_commands.py TRAINFLOW WORKFLOW SCRATCH_DIR
"""
import json
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


small = ["--set", "customers.rows=3000", "--threads", "2", "--no-progress"]
# No runs yet: an empty list, and `show` says where it looked.
check(json.loads(tf("runs", "--json").stdout) == [], "runs of an empty work directory")
shown = tf("show", "2026", expect=2)
check("no runs recorded here" in shown.stderr, f"show without runs.db: {shown.stderr}")

first = json.loads(tf("run", workflow, "--json", *small).stdout or "{}")
check(all(s["cache"] in ("stored", "not_cacheable") for s in first.get("stages", [])),
      "a first run stores every cacheable stage")
changed = json.loads(tf("run", workflow, "--json", "--set", "customers.rows=3000", "--threads",
                        "2", "--set", "mlp.max_iter=20").stdout or "{}")
outcome = {s["name"]: s["cache"] for s in changed.get("stages", [])}
check(outcome.get("customers") in ("skipped", "restored"), f"unchanged stage reran: {outcome}")
check(outcome.get("mlp[0]") == "stored" and outcome.get("mlp[1]") == "stored",
      f"changed stages were not rerun: {outcome}")
check(outcome.get("logistic[l2=0.1]") in ("skipped", "restored"),
      f"a stage not downstream of the change reran: {outcome}")

runs = json.loads(tf("runs", "--json").stdout or "[]")
check(len(runs) == 2 and runs[0]["run_id"] == changed.get("run_id"), f"runs newest first: {runs}")
listing = tf("runs").stdout
check(first.get("run_id", "?") in listing and "succeeded" in listing, f"runs table: {listing}")

detail = json.loads(tf("show", first["run_id"], "--json").stdout or "{}")
stages = {s["name"]: s for s in detail.get("stages", [])}
check(len(stages) == 20, f"show lists {len(stages)} stages")
check("roc_auc" in stages.get("gate", {}).get("metrics", {}), "show keeps the gate's metrics")
check(len(stages.get("customers", {}).get("outputs", {}).get("data", "")) == 32,
      "show gives output digests")
check(detail.get("manifest", {}).get("source", {}).get("overrides") == ["customers.rows=3000"],
      f"manifest overrides: {detail.get('manifest', {}).get('source')}")
table = tf("show", first["run_id"][:20]).stdout
check("best_mlp" in table and "stored" in table, f"show by prefix: {table}")

diff = json.loads(tf("diff", first["run_id"], changed["run_id"], "--json").stdout or "{}")
differing = {s["stage"]: s for s in diff.get("stages", [])}
check("mlp[0]" in differing and "customers" not in differing, f"diff stages: {list(differing)}")
check(any(p["name"] == "max_iter" and p["a"] == "40" and p["b"] == "20"
          for p in differing.get("mlp[0]", {}).get("params", [])),
      f"diff names the parameter: {differing.get('mlp[0]')}")
check("param max_iter: 40 -> 20" in tf("diff", first["run_id"], changed["run_id"]).stdout,
      "diff as text")

# A run that succeeded has nothing to resume.
resumed = json.loads(tf("resume", first["run_id"], "--json").stdout or "{}")
check(resumed == {"resumed": False, "run_id": first["run_id"], "status": "succeeded"},
      f"resume of a succeeded run: {resumed}")
# A failed run resumes: the stages that succeeded are not run again, the failed one is.
failed = tf("run", workflow, "--json", *small, "--set", "gate.conditions=[accuracy >= 0.9999]",
            expect=1)
fj = json.loads(failed.stdout or "{}")
check(fj.get("status") == "failed", f"the gate failed the run: {fj.get('status')}")
again = json.loads(tf("resume", fj["run_id"], "--json", "--no-progress", expect=1).stdout or "{}")
ag = {s["name"]: s["cache"] for s in again.get("stages", [])}
check(ag.get("best_logistic") in ("skipped", "restored") and again.get("run_id") == fj["run_id"],
      f"resume of a failed run: {ag}")
stored_gate = [s for s in json.loads(tf("show", fj["run_id"], "--json").stdout or "{}")
               .get("stages", []) if s["name"] == "gate"]
check(len(stored_gate) == 1 and stored_gate[0]["status"] == "failed",
      f"the failed stage is recorded once: {stored_gate}")
tf("show", "no-such-run", expect=2)
tf("diff", first["run_id"], expect=2)
tf("run", workflow, "--force", "custmers", *small, expect=2)
forced = json.loads(tf("run", workflow, "--json", "--force", "split", *small).stdout or "{}")
fo = {s["name"]: s["cache"] for s in forced.get("stages", [])}
check(fo.get("split") == "stored" and fo.get("features") in ("restored", "skipped"),
      f"--force reruns the stage; same bytes keep its dependants cached: {fo}")
verified = tf("run", workflow, "--verify", "--json", *small)
vj = json.loads(verified.stdout or "{}")
check(vj.get("not_deterministic") == [], f"--verify: {vj.get('not_deterministic')}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("store commands: ok")
