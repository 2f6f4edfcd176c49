#!/usr/bin/env python3
"""Export memory: is GET /api/v1/exports/contacts.csv constant-memory?

Starts target/release/organizeo (SQLite, a temporary directory), seeds contacts through
POST /contacts/batch (100 per call, 8 in flight), and at each checkpoint streams the export
while sampling the server's RSS every 50 ms. Prints rows exported, bytes, seconds and the
server's RSS before and at its peak during the export. Usage:

    cargo build --release
    python3 bench/export_memory.py [checkpoints, default 100000,1000000]
"""
import json, os, re, urllib.error, subprocess, sys, tempfile, threading, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
checkpoints = [int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "100000,1000000").split(",")]

tmp = tempfile.mkdtemp()
env = dict(os.environ, ORGANIZEO_LISTEN="127.0.0.1:0", ORGANIZEO_DATABASE_URL=f"sqlite://{tmp}/bench.db",
           ORGANIZEO_LOG="info", ORGANIZEO_MAX_BODY_BYTES="8388608")
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

retries = []
def call(method, path, body=None, token=None):
    while True:
        req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **({"Authorization": "Bearer " + token} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            # The documented contention answer: wait as told and retry.
            retries.append(e.read().decode())
            time.sleep(float(e.headers.get("Retry-After", "1")))

def rss_kib():
    with open(f"/proc/{server.pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])

token = call("POST", "/api/v1/signup", {"tenant_name": "Export", "email": "x@export.example",
                                        "password": "Corr3ct-Horse!Battery", "name": "X"})["token"]
seeded = 0
def batch(start):
    items = [{"email": f"c{start + i}@export.example", "first_name": "=cmd|' /C calc'!A0", "last_name": f"Row {start + i}"}
             for i in range(100)]
    r = call("POST", "/api/v1/contacts/batch", {"action": "create", "items": items}, token)
    return r["created"]

print("contacts  seed s   export rows  export MB  export s  RSS before MiB  RSS peak MiB")
for target in checkpoints:
    t0 = time.time()
    with ThreadPoolExecutor(8) as pool:
        seeded += sum(pool.map(batch, range(seeded, target, 100)))
    seed_s = time.time() - t0
    before = rss_kib()
    peak = [before]
    done = [False]
    def sample():
        while not done[0]:
            peak[0] = max(peak[0], rss_kib())
            time.sleep(0.05)
    th = threading.Thread(target=sample); th.start()
    t1 = time.time()
    req = urllib.request.Request(base + "/api/v1/exports/contacts.csv", headers={"Authorization": "Bearer " + token})
    rows, size = -1, 0
    with urllib.request.urlopen(req, timeout=3600) as r:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            rows += chunk.count(b"\n")
    export_s = time.time() - t1
    done[0] = True; th.join()
    print(f"{seeded:>8} {seed_s:>7.0f} {rows:>13} {size / 1e6:>10.1f} {export_s:>9.1f} {before / 1024:>15.1f} {peak[0] / 1024:>13.1f}")
print(f"503 retries while seeding: {len(retries)}" + (f"; first: {retries[0]}" if retries else ""))
server.terminate()
