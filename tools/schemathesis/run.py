#!/usr/bin/env python3
"""Fuzzes a real `organizeo serve` with schemathesis against its own OpenAPI document.

    python3 tools/schemathesis/run.py --database sqlite
    python3 tools/schemathesis/run.py --database postgres://postgres@127.0.0.1:5432/postgres

What it does, and why:

1. Builds the server (`cargo build --bin organizeo`, a no-op after `cargo test`) and starts
   `organizeo serve` on a free port (port 0, read back from its log) against a fresh
   database: a SQLite file in a temporary directory, or a PostgreSQL database it creates on
   the given server and drops at the end.
2. Signs up a portal with a random owner and password, and signs in three more times (one
   spare session per session-ending operation, below), before any fuzzing: sign-in is
   throttled per IP, and the fuzzer's wrong passwords would otherwise lock the spares out.
3. Runs schemathesis (the version pinned in requirements.txt) on every operation with the
   owner's token and the checks not_a_server_error, status_code_conformance,
   content_type_conformance and response_schema_conformance, then fails on any finding,
   on any runtime error of schemathesis, and on any ERROR line the server logged.

Operations that end the test's own session are kept out of the main run, and each is
fuzzed afterwards on its own with a spare session it may end:

- POST /api/v1/auth/logout: signs out the very session that calls it;
- DELETE /api/v1/me/sessions/{id}: signs out any of my sessions, the calling one included
  (its id is in GET /api/v1/me and GET /api/v1/me/sessions);
- PATCH /api/v1/tenant: `require_mfa: true` locks every person without 2FA out (403
  `mfa_enrollment_required` on everything but enrolment), the owner fuzzing here included.

Nothing else can end the owner's session: a password change needs the current password
(random, never in the document's examples) and keeps the calling session anyway; the last
owner can be neither removed nor demoted (409 `last_owner`); keys are not used to
authenticate, so rotating or deleting them ends nothing.

Settings (flags, or environment for .ci/run):
  --max-examples / ORGANIZEO_SCHEMATHESIS_MAX_EXAMPLES  test cases per operation (default 50)
  --seed / ORGANIZEO_SCHEMATHESIS_SEED                  hypothesis seed; `random` for a new one
  --workers / ORGANIZEO_SCHEMATHESIS_WORKERS            concurrent schemathesis workers (default 1)
Other arguments are passed to schemathesis' main run (e.g. --include-path-regex imports).
Reports (JUnit and NDJSON), the server's log and its metrics go to
target/schemathesis/<backend>/.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).resolve().with_name("requirements.txt")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# (operation, why it ends the session that calls it); fuzzed last, each with a spare session.
SESSION_ENDING = [
    ("POST /api/v1/auth/logout", "signs out the calling session"),
    ("DELETE /api/v1/me/sessions/{id}", "signs out any of my sessions, the calling one included"),
    ("PATCH /api/v1/tenant", "require_mfa: true locks the owner (no 2FA) out"),
]
DEFAULT_SEED = "20261130"


def log(message: str) -> None:
    print(f"[schemathesis] {message}", flush=True)


def fail(message: str) -> None:
    print(f"\nSCHEMATHESIS FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def pinned_version() -> str:
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("schemathesis=="):
            return line.split("==", 1)[1].strip()
    fail(f"no schemathesis pin in {REQUIREMENTS}")
    return ""


def schemathesis_command() -> list[str]:
    """The pinned schemathesis CLI, beside this interpreter (a venv) or on PATH."""
    beside = Path(sys.executable).with_name("schemathesis")
    exe = str(beside) if beside.exists() else shutil.which("schemathesis")
    if exe is None:
        fail(f"schemathesis is not installed: pip install -r {REQUIREMENTS}")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    want = pinned_version()
    if not out.endswith(want):
        fail(f"schemathesis {want} is pinned in {REQUIREMENTS}, found `{out}` at {exe}")
    return [exe]


def build(release: bool) -> Path:
    cmd = ["cargo", "build", "--bin", "organizeo", "--message-format=json-render-diagnostics"]
    if release:
        cmd.append("--release")
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        fail("cargo build failed")
    for line in proc.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "organizeo" and msg.get("executable"):
            return Path(msg["executable"])
    fail("cargo build did not name the organizeo executable")
    return Path()


class Database:
    """A fresh database for one run: a SQLite file, or a PostgreSQL database created here."""

    def __init__(self, spec: str, workdir: Path):
        self.admin_url = None
        self.name = None
        if spec == "sqlite":
            self.backend = "sqlite"
            self.url = f"sqlite://{workdir}/organizeo.db"
        elif spec.startswith(("postgres://", "postgresql://")):
            self.backend = "postgres"
            self.admin_url = spec
            self.name = f"organizeo_schemathesis_{os.getpid()}_{secrets.token_hex(4)}"
            self.psql(f'CREATE DATABASE "{self.name}"')
            parts = urllib.parse.urlsplit(spec)
            self.url = urllib.parse.urlunsplit(parts._replace(path=f"/{self.name}"))
        else:
            fail(f"--database must be `sqlite` or a postgres:// URL, not {spec!r}")

    def psql(self, sql: str) -> None:
        if shutil.which("psql") is None:
            fail("psql is needed to create the PostgreSQL database")
        proc = subprocess.run(
            ["psql", self.admin_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], capture_output=True, text=True
        )
        if proc.returncode != 0:
            fail(f"psql `{sql}` failed: {proc.stderr.strip()}")

    def drop(self) -> None:
        if self.name:
            self.psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Server:
    """`organizeo serve` on a free port; its log is kept beside the reports."""

    def __init__(self, binary: Path, database: Database, workdir: Path, log_path: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORGANIZEO_")}
        env.update(
            ORGANIZEO_LISTEN="127.0.0.1:0",
            ORGANIZEO_DATABASE_URL=database.url,
            ORGANIZEO_ENCRYPTION_KEY="st:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            ORGANIZEO_LOG="off,organizeo=warn,organizeo::startup=info",
            ORGANIZEO_LOG_FORMAT="text",
        )
        self.log_path = log_path
        self.log_file = open(log_path, "w")
        # Only our own warnings: actix logs every unparsable request a fuzzer sends as an ERROR.
        # The working directory is the scratch one, so no ./organizeo.toml is picked up.
        self.proc = subprocess.Popen(
            [str(binary), "serve"], cwd=workdir, env=env, stdout=self.log_file, stderr=subprocess.STDOUT
        )
        self.base = self.wait_for_address()

    def wait_for_address(self) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"organizeo serve exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            found = re.search(r"address=(http://127\.0\.0\.1:\d+)", self.log_path.read_text())
            if found:
                base = found.group(1)
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
                        if r.status == 200:
                            return base
                except OSError:
                    pass
            time.sleep(0.2)
        fail(f"organizeo serve did not start within 120 s:\n{self.log_path.read_text()}")
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()

    def errors_logged(self) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if " ERROR " in line]


def call(base: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sign_up(base: str, spares: int) -> tuple[str, list[str]]:
    """The owner's token, and `spares` further sessions of the same person."""
    email = f"schemathesis-{secrets.token_hex(6)}@example.com"
    # Policy: upper, lower, digit and special, not a known breached password.
    password = "Aa1!" + secrets.token_urlsafe(18)
    status, text = call(
        base, "POST", "/api/v1/signup", {"tenant_name": "Schemathesis", "email": email, "password": password, "name": "Fuzz"}
    )
    if status != 201:
        fail(f"sign-up answered {status}: {text}")
    owner = json.loads(text)["token"]
    tokens = []
    for _ in range(spares):
        status, text = call(base, "POST", "/api/v1/auth/login", {"email": email, "password": password})
        if status != 200:
            fail(f"sign-in answered {status}: {text}")
        tokens.append(json.loads(text)["token"])
    return owner, tokens


def requests_served(base: str, keep: Path) -> dict[str, int]:
    """Requests the server answered, by status, from its own metrics (kept in `keep`)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as r:
        text = r.read().decode()
    keep.write_text(text)
    by_status: dict[str, int] = {}
    for line in text.splitlines():
        found = re.match(r'organizeo_http_requests_total\{.*status="(\d+)".*\} (\d+)', line)
        if found:
            by_status[found.group(1)] = by_status.get(found.group(1), 0) + int(found.group(2))
    return dict(sorted(by_status.items()))


def run_schemathesis(
    st: list[str], base: str, token: str, args: argparse.Namespace, report_dir: Path, label: str, filters: list[str]
) -> int:
    cmd = st + [
        "run",
        f"{base}/api/v1/openapi.json",
        "--checks",
        CHECKS,
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(args.max_examples),
        "--workers",
        str(args.workers),
        "--no-color",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(report_dir),
        "--report-junit-path",
        str(report_dir / f"{label}.junit.xml"),
        "--report-ndjson-path",
        str(report_dir / f"{label}.ndjson"),
        *filters,
    ]
    if args.seed != "random":
        cmd += ["--seed", args.seed]
    log(f"{label}: {' '.join(c if 'Bearer' not in c else 'Authorization: Bearer ***' for c in cmd[1:])}")
    started = time.monotonic()
    env = dict(os.environ, SCHEMATHESIS_HOOKS=str(Path(__file__).resolve().with_name("hooks.py")))
    try:
        # A bound, so a hung server fails CI long before its 90 minutes are up.
        code = subprocess.run(cmd, cwd=report_dir, env=env, check=False, timeout=1800).returncode
    except subprocess.TimeoutExpired:
        log(f"{label}: still running after 30 minutes; stopped")
        return 124
    log(f"{label}: exit {code} in {time.monotonic() - started:.0f} s")
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="`sqlite`, or a postgres:// URL that may create databases")
    parser.add_argument(
        "--max-examples", type=int, default=int(os.environ.get("ORGANIZEO_SCHEMATHESIS_MAX_EXAMPLES", "50"))
    )
    parser.add_argument("--seed", default=os.environ.get("ORGANIZEO_SCHEMATHESIS_SEED", DEFAULT_SEED))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("ORGANIZEO_SCHEMATHESIS_WORKERS", "1")))
    parser.add_argument("--release", action="store_true", help="fuzz a release build")
    parser.add_argument("--binary", type=Path, help="fuzz this organizeo executable instead of building one")
    # Anything else goes to schemathesis' main run (e.g. --include-path-regex imports).
    args, extra = parser.parse_known_args()

    st = schemathesis_command()
    binary = args.binary.resolve() if args.binary else build(args.release)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="organizeo-schemathesis-"))
    database = Database(args.database, workdir)
    report_dir = ROOT / "target" / "schemathesis" / database.backend
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    server = None
    failures = []
    try:
        server = Server(binary, database, workdir, report_dir / "server.log")
        log(f"{database.backend}: organizeo serve at {server.base}, database {database.url}")
        owner, spares = sign_up(server.base, len(SESSION_ENDING))
        excluded = [arg for name, _ in SESSION_ENDING for arg in ("--exclude-name", name)]
        if run_schemathesis(st, server.base, owner, args, report_dir, "main", excluded + extra) != 0:
            failures.append("schemathesis found problems in the main run (see above)")
        for (name, why), token in zip(SESSION_ENDING, spares):
            label = "last-" + re.sub(r"[^a-z]+", "-", name.lower()).strip("-")
            log(f"{label}: {name} ({why}), with a session of its own")
            # One operation alone has no links to follow: no stateful phase.
            alone = ["--include-name", name, "--phases", "examples,coverage,fuzzing"]
            if run_schemathesis(st, server.base, token, args, report_dir, label, alone) != 0:
                failures.append(f"schemathesis found problems in {name} (see above)")
        served = requests_served(server.base, report_dir / "metrics.txt")
        total = sum(served.values())
        log(f"{database.backend}: {total} requests answered in {time.monotonic() - started:.0f} s, by status: {served}")
        if any(status.startswith("5") for status in served):
            failures.append(f"the server answered 5xx: {served}")
    finally:
        if server is not None:
            server.stop()
            errors = server.errors_logged()
            if errors:
                failures.append("the server logged errors:\n  " + "\n  ".join(errors[:20]))
        database.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        fail("\n".join(failures))
    log(f"{database.backend}: no findings")


if __name__ == "__main__":
    main()
