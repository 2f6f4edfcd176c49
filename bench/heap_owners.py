#!/usr/bin/env python3
"""Live heap of a server by owner, from a heaptrack stack file (bench/README.md).

    heaptrack_print heaptrack.organizeo.PID.zst --flamegraph-cost-type leaked -F stacks.txt
    python3 bench/heap_owners.py stacks.txt 5000

Each line of the stack file is `root;...;leaf BYTES`. An allocation belongs to the frame
nearest to it (leaf first) that names an owner below, so a buffer the HTTP dispatcher
allocates is the dispatcher's even though a handler is further up the stack. Prints bytes
per connection for the given number of connections (the server killed while they were
all open: "leaked" is what was live then).
"""
import sys
from collections import defaultdict

# Whole-stack rules first: (owner, substrings that must all appear somewhere in the stack).
STACK_RULES = [
    ("one-time, not per connection (password dictionaries, migrations, pools)",
     ("zxcvbn",), ("common_passwords",), ("migration",), ("r2d2",), ("diesel",)),
    ("websocket actor + context, boxed as the response body (actix-web-actors)",
     ("WsResponseBuilder", "HttpResponseBuilder::body")),
    ("connection task: the HTTP/1 dispatcher future (actix-server, tokio)", ("LocalOwnedTasks", "actix_server")),
]

# (owner, substrings of a frame), tried leaf first; the first frame matching any decides.
OWNERS = [
    ("TLS state (rustls)", ("rustls",)),
    ("tokio TcpStream (I/O registration)", ("tokio::runtime::io", "tokio::io::poll_evented", "tokio::net::tcp")),
    ("websocket context, codec, framing (actix-web-actors)", ("actix_web_actors",)),
    ("actor context + mailbox (actix)", ("actix::address", "actix::mailbox", "actix::contextimpl", "actix::context",
                                         "actix::fut", "actix::utils")),
    ("subscription registry (tenant actor)", ("organizeo::realtime::tenant",)),
    ("session actor state", ("organizeo::realtime",)),
    ("HTTP/1 dispatcher (actix-http)", ("actix_http::h1::dispatcher",)),
    # Dispatcher::new is inlined here: its 8 KiB read and 8 KiB write buffers.
    ("HTTP/1 dispatcher: read + write buffers (actix-http)", ("actix_http::service::HttpServiceHandler",)),
    ("HTTP/1 payload / codec (actix-http)", ("actix_http::h1",)),
    ("actix-http other", ("actix_http",)),
    ("actix-web request", ("actix_web",)),
    ("actix-server accept", ("actix_server",)),
]


def owner_of(frames):
    joined = ";".join(frames)
    for owner, *alternatives in STACK_RULES:
        if any(all(m in joined for m in marks) for marks in alternatives):
            return owner
    for frame in reversed(frames):
        for owner, marks in OWNERS:
            if any(m in frame for m in marks):
                return owner
    return "other (runtime, pools, logging, database)"


def main():
    path, conns = sys.argv[1], int(sys.argv[2])
    total = defaultdict(int)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, cost = line.rstrip("\n").rpartition(" ")
            if not stack or not cost.isdigit():
                continue
            # Legacy symbol mangling writes paths with "..": read them as "::".
            frames = stack.replace("..", "::").split(";")
            owner = owner_of(frames)
            total[owner] += int(cost)
    once = [o for o in total if o.startswith("one-time")]
    per_conn = sum(b for o, b in total.items() if o not in once)
    print("| owner | bytes per connection | share |")
    print("| --- | ---: | ---: |")
    for owner, b in sorted(total.items(), key=lambda kv: -kv[1]):
        if owner not in once:
            print(f"| {owner} | {b / conns:,.0f} | {100 * b / per_conn:.1f}% |")
    print(f"| **live heap per connection** | **{per_conn / conns:,.0f}** | |")
    for o in once:
        print(f"\n(not counted above: {o}: {total[o] / 1024 / 1024:.1f} MiB in all)")


if __name__ == "__main__":
    main()
