#!/usr/bin/env python3
"""Import memory: does a CSV upload of the documented maximum keep the server's memory flat?

Starts target/release/organizeo (SQLite in a temporary directory, or the PostgreSQL URL
given as the second argument, whose database must be empty), writes a contacts CSV of the
given size (default 50 MB, the limit), uploads it to POST /api/v1/imports while sampling
the server's RSS every 50 ms, then waits for the job to finish, sampling on. Prints the
file's size and rows, the seconds to stage (the upload's answer) and to import, rows per
second, and the server's RSS before, at its peak while staging and at its peak while
importing. Usage:

    cargo build --release
    python3 bench/import_memory.py [MB, default 50] [postgres://…]
"""
import json, os, re, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 50
tmp = tempfile.mkdtemp()
db_url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite://{tmp}/bench.db"

env = dict(os.environ, ORGANIZEO_LISTEN="127.0.0.1:0", ORGANIZEO_DATABASE_URL=db_url, ORGANIZEO_LOG="info")
server = subprocess.Popen([f"{ROOT}/target/release/organizeo", "serve"], cwd=tmp, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
port = None
for line in server.stdout:
    m = re.search(r"address=http://127\.0\.0\.1:(\d+)", line)
    if m:
        port = int(m.group(1))
        break
threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
base = f"http://127.0.0.1:{port}"


def call(method, path, body=None, token=None, content_type="application/json"):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {"Content-Type": content_type, **({"Authorization": "Bearer " + token} if token else {})}
    req = urllib.request.Request(base + path, method=method, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=3600) as r:
        return json.loads(r.read() or b"null")


def rss_kib():
    with open(f"/proc/{server.pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])


class Sampler:
    def __init__(self):
        self.peak, self.running = rss_kib(), True
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.05)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.peak


token = call("POST", "/api/v1/signup", {"tenant_name": "Import", "email": "x@import.example",
                                        "password": "Corr3ct-Horse!Battery", "name": "X"})["token"]
# Realistic rows: quoted cells with commas, a phone, two tags, a formula guard.
lines = ["email,first_name,last_name,phone,tags"]
size, n = len(lines[0]) + 1, 0
while size < megabytes * 1e6:
    n += 1
    line = f'c{n}@import.example,"Ann, {n}",\'-Lee {n},+31 6 1234 {n % 10000:04d},vip;speaker'
    lines.append(line)
    size += len(line) + 1
csv = ("\n".join(lines) + "\n").encode()
del lines
boundary = "organizeo-bench-7d1f"
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"object\"\r\n\r\ncontact\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n\r\n").encode() \
    + csv + f"\r\n--{boundary}--\r\n".encode()

before = rss_kib()
staging = Sampler()
t0 = time.time()
accepted = call("POST", "/api/v1/imports", body, token, f"multipart/form-data; boundary={boundary}")
stage_s = time.time() - t0
stage_peak = staging.stop()
importing = Sampler()
t1 = time.time()
while True:
    job = call("GET", f"/api/v1/imports/{accepted['id']}", token=token)
    if job["status"] in ("completed", "failed"):
        break
    time.sleep(0.5)
import_s = time.time() - t1
import_peak = importing.stop()
after = rss_kib()
print("file MB  rows      stage s  import s  rows/s   RSS before MiB  peak staging MiB  peak importing MiB  after MiB")
print(f"{len(csv) / 1e6:>7.1f}  {accepted['rows_total']:>8}  {stage_s:>7.1f}  {import_s:>8.1f}  "
      f"{job['rows_imported'] / max(import_s, 1e-9):>7.0f}  {before / 1024:>14.1f}  {stage_peak / 1024:>16.1f}  "
      f"{import_peak / 1024:>18.1f}  {after / 1024:>9.1f}")
print(f"status {job['status']}, imported {job['rows_imported']}, failed {job['rows_failed']}")
server.terminate()
