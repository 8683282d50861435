#!/usr/bin/env python3
"""Checks `trainflow run --serve`: the live status is served while the run goes on and, with
--serve-linger, after it; the page renders in headless Chromium when it is installed; a
non-loopback address needs a token.

Usage: check_serve.py TRAINFLOW WORKFLOW SCRATCH_DIR
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

trainflow, workflow, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def fetch(url, method="GET", headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def start(*extra, env=None):
    """Starts trainflow run with --serve; returns the process and the URL it printed."""
    stderr = open(os.path.join(work, "stderr.txt"), "w+")
    p = subprocess.Popen([trainflow, "run", workflow, "--workdir", os.path.join(work, "wd"),
                          "--threads", "2", "--no-progress", *extra],
                         stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        stderr.seek(0)
        m = re.search(r"live status at (http://\S+)", stderr.read())
        if m:
            return p, m.group(1), stderr
        if p.poll() is not None:
            break
        time.sleep(0.02)
    stderr.seek(0)
    return p, None, stderr


# 1. Served while the run goes on, and for a while after it.
p, url, err = start("--serve=127.0.0.1:0", "--serve-linger", "60")
check(url is not None, "no URL printed: " + err.read())
if url:
    seen = []
    doc = {}
    deadline = time.time() + 300
    while time.time() < deadline:
        status, headers, body = fetch(url + "api/run")
        check(status == 200 and headers["Content-Type"] == "application/json",
              f"/api/run: {status} {headers['Content-Type']}")
        doc = json.loads(body)
        seen.append(doc["run"]["status"])
        if doc["run"]["finished"]:
            break
        time.sleep(0.05)
    check(seen and seen[0] in ("pending", "running"), f"first status seen: {seen[:1]}")
    check(doc["run"]["status"] == "succeeded", f"final run status: {doc.get('run')}")
    check(len(doc["stages"]) == 20 and all(s["status"] == "succeeded" for s in doc["stages"]),
          "every stage succeeded")
    check(any(s["metrics"].get("loss", {}).get("points") for s in doc["stages"]),
          "training curves (loss) reported")
    check(len(doc["edges"]) > 0, "the DAG's edges")

    status, headers, body = fetch(url + "metrics")
    check(status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4"),
          f"/metrics: {status}")
    check('trainflow_stages{status="succeeded"} 20' in body, "20 succeeded stages in /metrics")
    check(re.search(r'^trainflow_stage_duration_seconds\{stage="logistic",trial="0"\} [0-9.e-]+$',
                    body, re.M), "a sweep trial's duration labelled by name and trial index")
    check("l2=" not in body, "no parameter values in labels")
    status, headers, body = fetch(url)
    check(status == 200 and "<script>" in body and "api/run" in body, f"page: {status}")
    check("default-src 'none'" in headers.get("Content-Security-Policy", ""), "page CSP")
    status, headers, _ = fetch(url + "api/run", method="POST")
    check(status == 405 and headers["Allow"] == "GET, HEAD", f"POST: {status}")

    if os.path.exists("/usr/bin/chromium"):
        dom = subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                              "--virtual-time-budget=3000", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120).stdout
        rows = re.findall(r'<tr data-stage="([^"]*)" data-status="([^"]*)"', dom)
        check(len(rows) == 20 and all(s == "succeeded" for _, s in rows),
              f"page rows rendered by its script: {rows[:3]}... ({len(rows)})")
        check("run finished: succeeded" in dom, "page shows the finished run")
        check(dom.count('class="chart"') >= 1, "page draws training curves")
        check(re.search(r'<g data-stage="customers" data-status="succeeded">', dom),
              "the DAG's node of customers, coloured as succeeded")
    # SIGINT ends the linger; the run's exit code stays.
    p.send_signal(signal.SIGINT)
    try:
        code = p.wait(timeout=30)
        check(code == 0, f"exit code after linger: {code}")
    except subprocess.TimeoutExpired:
        p.kill()
        failures.append("SIGINT did not end --serve-linger")
else:
    p.kill()

# 2. Not loopback: a token is required.
p = subprocess.run([trainflow, "run", workflow, "--workdir", os.path.join(work, "wd"),
                    "--serve=0.0.0.0:0"], capture_output=True, text=True, timeout=60)
check(p.returncode == 2 and "without a token" in p.stderr,
      f"0.0.0.0 without a token: exit {p.returncode}: {p.stderr}")
p = subprocess.run([trainflow, "run", workflow, "--workdir", os.path.join(work, "wd"),
                    "--serve=127.0.0.1:http"], capture_output=True, text=True, timeout=60)
check(p.returncode == 2 and "not a port number" in p.stderr, f"bad port: {p.stderr}")

token = "0123456789abcdef0123"
env = dict(os.environ, TRAINFLOW_SERVE_TOKEN=token)
p, url, err = start("--serve=0.0.0.0:0", "--serve-linger", "60", env=env)
check(url is not None, "no URL printed with a token: " + err.read())
if url:
    port = url.rsplit(":", 1)[1].rstrip("/")
    local = f"http://127.0.0.1:{port}/"
    check(fetch(local + "api/run")[0] == 401, "no token: 401")
    check(fetch(local + "api/run", headers={"Authorization": "Bearer " + token})[0] == 200,
          "Bearer token: 200")
    check(fetch(local + "?token=" + token)[0] == 200, "?token=: 200")
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=300)
    except subprocess.TimeoutExpired:
        p.kill()
else:
    p.kill()

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("serve: ok")
