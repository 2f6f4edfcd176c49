#!/usr/bin/env python3
"""Data protection figures: backup and verify time and size, key rotation throughput,
erasure latency for a contact with 1,000 events, portal export time, size and memory.

Starts target/release/organizeo on SQLite (a temporary directory) or on a fresh PostgreSQL
database, seeds contacts through POST /contacts/batch (100 per call, 8 in flight), and at
each checkpoint runs, with the server still serving:

- `organizeo backup create` (sealed, zstd) and `organizeo backup verify`: seconds, bytes;
- a portal export (POST /tenant/export, wait, download): seconds, zip bytes, the server's
  RSS before and at its peak while the archive is built;
and once at the end:
- erasure of three contacts with 1,000 events each (1 create + 999 updates): latency;
- `organizeo keys rotate` over N people whose TOTP secrets were sealed under the old key
  (inserted directly, sealed the way the server seals them): values per second.

Usage:

    cargo build --release
    python3 bench/data_protection.py sqlite [checkpoints, default 100000] [people, default 20000]
    python3 bench/data_protection.py postgres://postgres@127.0.0.1:5432/postgres 100000,1000000
"""
import base64, json, os, re, subprocess, sys, tempfile, threading, time, urllib.error, urllib.request, uuid
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = f"{ROOT}/target/release/organizeo"
target = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
checkpoints = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "100000").split(",")]
people = int(sys.argv[3]) if len(sys.argv) > 3 else 20000

tmp = tempfile.mkdtemp()
key1 = os.urandom(32)
key2 = os.urandom(32)
K1 = "k1:" + base64.b64encode(key1).decode()
K2 = "k2:" + base64.b64encode(key2).decode()
if target == "sqlite":
    db_url = f"sqlite://{tmp}/bench.db"
    dbname = None
else:
    dbname = f"oz_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", target, "-qc", f"CREATE DATABASE {dbname}"], check=True)
    scheme, rest = target.split("://", 1)
    query = "?" + rest.split("?", 1)[1] if "?" in rest else ""
    db_url = f"{scheme}://{rest.split('/', 1)[0]}/{dbname}{query}"
env = dict(os.environ, ORGANIZEO_LISTEN="127.0.0.1:0", ORGANIZEO_DATABASE_URL=db_url, ORGANIZEO_LOG="info",
           ORGANIZEO_MAX_BODY_BYTES="8388608", ORGANIZEO_ENCRYPTION_KEY=K1, ORGANIZEO_BACKUP_INTERVAL_HOURS="0",
           ORGANIZEO_BACKUP_DIR=f"{tmp}/backups", ORGANIZEO_EXPORT_DIR=f"{tmp}/exports", ORGANIZEO_BACKUP_KEEP="100")
server = subprocess.Popen([BIN, "serve"], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
port = None
for line in server.stdout:
    m = re.search(r"address=http://127\.0\.0\.1:(\d+)", line)
    if m:
        port = int(m.group(1))
        break
threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
base = f"http://127.0.0.1:{port}"


def call(method, path, body=None, token=None, raw=False):
    while True:
        req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": "Bearer " + token} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=3600) as r:
                data = r.read()
                return data if raw else json.loads(data or b"null")
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise RuntimeError(f"{method} {path}: {e.code} {e.read()[:300]}")
            time.sleep(float(e.headers.get("Retry-After", "1")))


def rss_kib():
    with open(f"/proc/{server.pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])


def cli(*args, extra=None):
    t0 = time.time()
    out = subprocess.run([BIN, *args], cwd=tmp, env=dict(env, **(extra or {})), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"organizeo {' '.join(args)}: {out.returncode} {out.stdout} {out.stderr}")
    return time.time() - t0, out.stdout


token = call("POST", "/api/v1/signup", {"tenant_name": "Bench", "email": "x@bench.example",
                                        "password": "Corr3ct-Horse!Battery", "name": "X"})["token"]
tenant = call("GET", "/api/v1/me", token=token)["tenant"]["id"]


def batch(start):
    items = [{"email": f"c{start + i}@bench.example", "first_name": f"First{start + i}", "last_name": f"Row {start + i}",
              "phone": f"+31 6 {start + i:08d}", "tags": ["bench"]} for i in range(100)]
    return call("POST", "/api/v1/contacts/batch", {"action": "create", "items": items}, token)["created"]


print(f"database: {'SQLite' if dbname is None else 'PostgreSQL'}")
print("contacts  seed s | backup s  backup MB  verify s | export s  zip MB  RSS before MiB  RSS peak MiB")
seeded = 0
for checkpoint in checkpoints:
    t0 = time.time()
    with ThreadPoolExecutor(8) as pool:
        seeded += sum(pool.map(batch, range(seeded, checkpoint, 100)))
    seed_s = time.time() - t0
    backup_s, path = cli("backup", "create")
    path = path.strip()
    size = os.path.getsize(os.path.join(tmp, path))
    verify_s, _ = cli("backup", "verify", path)
    before = rss_kib()
    peak = [before]
    done = [False]

    def sample():
        while not done[0]:
            peak[0] = max(peak[0], rss_kib())
            time.sleep(0.05)

    th = threading.Thread(target=sample)
    th.start()
    t1 = time.time()
    job = call("POST", "/api/v1/tenant/export", {}, token)
    while True:
        st = call("GET", f"/api/v1/tenant/exports/{job['id']}", token=token)
        if st["status"] in ("completed", "failed"):
            break
        time.sleep(0.2)
    zip_bytes = len(call("GET", f"/api/v1/tenant/exports/{job['id']}/download", token=token, raw=True))
    export_s = time.time() - t1
    done[0] = True
    th.join()
    print(f"{seeded:>8} {seed_s:>7.0f} | {backup_s:>8.1f} {size / 1e6:>10.1f} {verify_s:>9.1f} | "
          f"{export_s:>8.1f} {zip_bytes / 1e6:>7.1f} {before / 1024:>15.1f} {peak[0] / 1024:>13.1f}   ({st['status']})")

# Erasure of a contact with 1,000 events.
latencies = []
for n in range(3):
    c = call("POST", "/api/v1/contacts", {"email": f"erase{n}@bench.example", "first_name": "Erase"}, token)
    for i in range(999):
        call("PATCH", f"/api/v1/contacts/{c['id']}", {"last_name": f"L{i}"}, token)
    t0 = time.time()
    r = call("POST", f"/api/v1/contacts/{c['id']}/erase", {}, token)
    latencies.append((time.time() - t0) * 1000)
    assert r["events_tombstoned"] == 1000, r
print("erasure of a contact with 1,000 events (ms): " + ", ".join(f"{l:.0f}" for l in latencies))

# Key rotation: people whose TOTP secrets were sealed under k1, as the server seals them.
server.terminate()
server.wait()
aes = AESGCM(key1)
now = "2026-11-30 00:00:00"
rows = []
for i in range(people):
    uid = str(uuid.uuid4())
    nonce = os.urandom(12)
    blob = base64.b64encode(nonce + aes.encrypt(nonce, os.urandom(20), f"totp:{uid}".encode())).decode()
    rows.append((uid, f"p{i}@rot.example", f"P{i}", "x", now, now, blob, "k1"))
t0 = time.time()
if dbname is None:
    import sqlite3
    con = sqlite3.connect(f"{tmp}/bench.db")
    con.executemany("INSERT INTO users (id, email, name, password_hash, created_at, updated_at, totp_secret, totp_key_id) "
                    "VALUES (?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()
else:
    data = "".join("\t".join(r) + "\n" for r in rows)
    subprocess.run(["psql", db_url, "-qc", "COPY users (id, email, name, password_hash, created_at, updated_at, "
                    "totp_secret, totp_key_id) FROM STDIN"], input=data, text=True, check=True)
rotate_s, out = cli("keys", "rotate", extra={"ORGANIZEO_ENCRYPTION_KEY": K2, "ORGANIZEO_ENCRYPTION_OLD_KEYS": K1})
print(f"keys rotate: {people} values in {rotate_s:.1f} s = {people / rotate_s:,.0f} values/s (whole command, "
      f"start-up check and migrations included)")
print(out.strip())
if dbname is not None:
    subprocess.run(["psql", target, "-qc", f"DROP DATABASE {dbname} WITH (FORCE)"])
