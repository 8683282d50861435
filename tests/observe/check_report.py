#!/usr/bin/env python3
"""Checks `trainflow trace`, `trainflow report` and the run's logs on a real run, and what
headless Chromium shows of the report pages.

Usage: check_report.py TRAINFLOW REPORT_FIXTURE WORKFLOW SCRATCH_DIR

Exits 77 (ctest's skip) when chromium is not installed, after the checks that need no browser.
"""
import html.parser
import json
import os
import shutil
import subprocess
import sys

trainflow, fixture, workflow, work = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
workdir = os.path.join(work, "wd")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def tf(*args, expect=0):
    p = subprocess.run([trainflow, *args, "--workdir", workdir], capture_output=True, text=True)
    check(p.returncode == expect, f"trainflow {' '.join(args)}: exit {p.returncode}, expected "
                                  f"{expect}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return p


def finish():
    if failures:
        print("\n".join(failures))
        sys.exit(1)


class Dom(html.parser.HTMLParser):
    """The elements of a page: (tag, attributes) in document order, and its text."""

    def __init__(self, text):
        super().__init__()
        self.elements = []
        self.text = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag, cls=None):
        return [a for t, a in self.elements
                if t == tag and (cls is None or cls in a.get("class", "").split())]


# A small run of the workflow, with per-stage log files in JSON on the console too.
run = tf("run", workflow, "--json", "--set", "customers.rows=3000", "--threads", "2",
         "--no-progress", "--log-format", "json")
result = json.loads(run.stdout or "{}")
run_id = result.get("run_id", "")
stages = {s["name"]: s for s in result.get("stages", [])}
check(run_id and len(stages) >= 10, f"the run: {run.stdout[-500:]}")

# Logs: the run's and one per stage; the console (stderr) has JSON lines naming the run.
log_dir = os.path.join(workdir, "logs", run_id)
check(os.path.isfile(os.path.join(log_dir, "run.log")), f"no {log_dir}/run.log")
if os.path.isfile(os.path.join(log_dir, "run.log")):
    with open(os.path.join(log_dir, "run.log")) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    events = {e["event"] for e in lines}
    check({"run_started", "stage_started", "stage_finished", "run_finished"} <= events,
          f"run.log events: {events}")
    check(all(e["run"] == run_id for e in lines), "every line names the run")
    # Sweep trials have names like logistic[l2=0.1]: their files are percent-encoded.
    for name in stages:
        encoded = "".join(c if c.isalnum() or c in "._-" else "%{:02X}".format(ord(c))
                          for c in name)
        check(os.path.isfile(os.path.join(log_dir, encoded + ".log")),
              f"no log file {encoded}.log for stage {name}")
console = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
check(any(e.get("event") == "run_finished" and e.get("run") == run_id for e in console),
      f"--log-format json: no run_finished line on stderr:\n{run.stderr[-1000:]}")

# Trace: a track per worker, every stage that ran a slice, times in microseconds.
trace_path = os.path.join(work, "trace.json")
tf("trace", run_id[:20], "-o", trace_path)
with open(trace_path) as f:
    trace = json.load(f)
slices = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X" and e.get("pid") == 1]
threads = {e["args"]["name"] for e in trace["traceEvents"]
           if e.get("ph") == "M" and e.get("name") == "thread_name" and e.get("pid") == 1}
check("worker 0" in threads or "worker 1" in threads, f"trace threads: {threads}")
names = {e["name"].split(" (")[0] for e in slices if e.get("cat", "").startswith("stage")}
check(names == set(stages), f"trace slices {sorted(names)} != stages {sorted(stages)}")
check(all(e["ts"] >= 0 and e["dur"] >= 0 for e in slices), "negative times in the trace")

# Report: written, and the errors of a bad run or path are clear.
report_path = os.path.join(work, "report.html")
tf("report", run_id, "-o", report_path)
bad = tf("report", "nosuchrun", "-o", report_path, expect=2)
check("nosuchrun" in bad.stderr, f"unknown run: {bad.stderr}")
bad = tf("report", run_id, "-o", os.path.join(work, "no", "such", "dir", "r.html"), expect=1)
check("cannot write" in bad.stderr, f"unwritable output: {bad.stderr}")

fixture_path = os.path.join(work, "fixture.html")
check(subprocess.run([fixture, fixture_path]).returncode == 0, "report_fixture failed")

chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    finish()
    print("chromium not found: the browser checks are skipped")
    sys.exit(77)


def render(path):
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--no-first-run", "--dump-dom",
                        "file://" + os.path.abspath(path)],
                       capture_output=True, text=True, timeout=180)
    check(p.returncode == 0 and "</html>" in p.stdout,
          f"chromium {path}: exit {p.returncode}\n{p.stderr[-1500:]}")
    return Dom(p.stdout)


# The real run: every stage is a DAG node with its status as class, a Gantt bar and a row.
dom = render(report_path)
nodes = {a.get("data-stage"): a.get("class", "").split() for a in dom.find("g", "node")}
check(set(nodes) == set(stages), f"DAG nodes {sorted(nodes)} != stages {sorted(stages)}")
for name, s in stages.items():
    check("status-" + s["status"] in nodes.get(name, []), f"node {name}: {nodes.get(name)}")
check(len(dom.find("path", "edge")) >= len(stages) - 1, "the DAG has too few edges")
bars = {a.get("data-stage") for a in dom.find("rect", "bar")}
check(bars == set(stages), f"Gantt bars {sorted(bars)} != stages {sorted(stages)}")
text = "".join(dom.text)
for name in stages:
    check(name in text, f"stage {name} not shown")
check(run_id in text, "the run id is not shown")
check("roc_auc" in text, "the final metrics are not shown")
for curve in dom.find("svg", "curve"):
    check(curve.get("data-stage") in stages, f"a curve of an unknown stage: {curve}")

# The hand-made run: its curve as a browser sees it.
dom = render(fixture_path)
curves = {(a.get("data-stage"), a.get("data-metric")) for a in dom.find("svg", "curve")}
check(curves == {("train", "loss"), ("train", "val_auc")}, f"fixture curves: {curves}")
points = [a.get("points") for a in dom.find("polyline")]
check("60.0,26.0 203.0,122.0 346.0,170.0" in points, f"fixture loss curve: {points}")
check(["node", "status-failed"] == (dom.find("g", "status-failed") or [{}])[0].get("class", "").split(),
      "fixture: the failed stage's node")
check(len(dom.find("rect", "bar")) == 4, "fixture: Gantt bars")

finish()
print("report checks: ok")
