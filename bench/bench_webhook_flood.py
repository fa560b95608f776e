"""Benchmark: valid signed webhooks answered while thousands of idle or slow connections are held open.

Three processes on loopback: the receiver (as ``cio-desktop webhook serve`` runs it), a flood that
holds N connections open and reopens every one the receiver closes (an attacker does), and this
process, which then posts valid signed webhooks one at a time on fresh connections, each with
Customer.io's 4-second limit, and counts the 200s.

Flood kinds: ``idle`` connections send nothing; ``slowloris`` ones send a request head one byte a
second and never finish it.

    .venv/bin/python bench/bench_webhook_flood.py                       # N=2000 idle, then slowloris
    .venv/bin/python bench/bench_webhook_flood.py --kind idle -n 5000
    .venv/bin/python bench/bench_webhook_flood.py --no-reconnect        # the flood does not come back
    .venv/bin/python bench/bench_webhook_flood.py --source /path/to/other/checkout   # another receiver

Target (issue 11): with 2,000 idle connections held open, at least 18 of 20 valid webhooks get 200.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import http.client
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN = "bench-token-0123456789abcdefghijkl"
KEY = "bench-signing-key"
CUSTOMERIO_TIMEOUT = 4.0
SLOW_HEAD = b"POST /webhooks/customerio/" + TOKEN.encode() + b" HTTP/1.1\r\nHost: x\r\n" + b"X-Padding: " + b"a" * 4000


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft open-files limit towards ``wanted`` (never above the hard limit)."""
    try:
        import resource
    except ImportError:  # Windows
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


# ---------------------------------------------------------------------------------------- receiver
def serve(inbox_file: str, fd_limit: int) -> None:
    """Child: run the receiver; print its port, then its counters once stdin closes."""
    raise_fd_limit(fd_limit)
    from cio_desktop.webhooks.inbox import Inbox
    from cio_desktop.webhooks.receiver import WebhookReceiver

    inbox = Inbox(Path(inbox_file))
    receiver = WebhookReceiver(inbox, TOKEN, KEY, port=0)
    receiver.start()
    print(receiver.port, flush=True)
    sys.stdin.read()
    stats = receiver.stats()
    receiver.stop()
    inbox.close()
    print(json.dumps({"stored": stats.stored, "evicted": getattr(stats, "evicted", None)}), flush=True)


# ---------------------------------------------------------------------------------------- flood
def flood(port: int, n: int, kind: str, reconnect: bool, addresses: int) -> None:
    """Child: hold ``n`` connections open (reopening closed ones) until stdin closes.

    With ``addresses`` > 1 they come from 127.0.0.2, 127.0.0.3, ... (Linux routes all of 127/8 to
    loopback), as from many clients; else from 127.0.0.1 like everything behind a tunnel.
    """
    raise_fd_limit(n + 512)
    sel = selectors.DefaultSelector()
    sent: dict[socket.socket, int] = {}
    opened = closed = failed = 0

    def open_one() -> None:
        nonlocal opened, failed
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if addresses > 1:
            sock.bind((f"127.0.0.{2 + opened % addresses}", 0))
        code = sock.connect_ex(("127.0.0.1", port))
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            failed += 1
            return
        sel.register(sock, selectors.EVENT_READ)
        sent[sock] = 0
        opened += 1

    def drop(sock: socket.socket) -> None:
        nonlocal closed
        sel.unregister(sock)
        del sent[sock]
        sock.close()
        closed += 1

    sel.register(sys.stdin, selectors.EVENT_READ)
    for _ in range(n):
        open_one()
    print("ready", flush=True)
    next_byte = time.monotonic() + 1.0
    running = True
    while running:
        for key, _ in sel.select(timeout=0.05):
            if key.fileobj is sys.stdin:
                running = False
                continue
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # the receiver closed it
                drop(sock)
                if reconnect:
                    open_one()
        while reconnect and len(sent) < n and failed < 10 * n:
            open_one()  # a refused or failed connect: try again
        if kind == "slowloris" and time.monotonic() >= next_byte:
            next_byte += 1.0
            for sock, at in list(sent.items()):
                with contextlib.suppress(OSError):
                    sock.send(SLOW_HEAD[at : at + 1])
                    sent[sock] = min(at + 1, len(SLOW_HEAD) - 1)
    print(json.dumps({"opened": opened, "closed_by_receiver": closed, "open": len(sent)}), flush=True)
    for sock in list(sent):
        sock.close()


# ---------------------------------------------------------------------------------------- the measurement
def body_for(event_id: str) -> bytes:
    return json.dumps(
        {
            "data": {"identifiers": {"email": "ada@example.com", "id": "u-1001"}, "delivery_id": "d1"},
            "event_id": event_id,
            "metric": "opened",
            "object_type": "email",
            "timestamp": int(time.time()),
        }
    ).encode()


def post(port: int, event_id: str) -> tuple[str, float]:
    from cio_desktop.webhooks.signature import signed_headers

    body = body_for(event_id)
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CUSTOMERIO_TIMEOUT)
    try:
        conn.request("POST", "/webhooks/customerio/" + TOKEN, body=body, headers=signed_headers(KEY, body))
        resp = conn.getresponse()
        resp.read()
        outcome = str(resp.status)
    except TimeoutError:
        outcome = "timeout"
    except (OSError, http.client.HTTPException) as exc:
        outcome = type(exc).__name__
    finally:
        conn.close()
    return outcome, time.perf_counter() - t0


def child(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )


def scenario(kind: str, n: int, requests: int, reconnect: bool, addresses: int, env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        server = child(["--serve", str(Path(tmp) / "inbox.sqlite3"), "--fd-limit", str(n + 1024)], env)
        assert server.stdout is not None and server.stdin is not None
        port = int(server.stdout.readline())
        flood_args = ["--flood", str(port), "-n", str(n), "--kind", kind, "--addresses", str(addresses)]
        attackers = child(flood_args if reconnect else [*flood_args, "--no-reconnect"], env)
        assert attackers.stdout is not None and attackers.stdin is not None
        assert attackers.stdout.readline().strip() == "ready"
        time.sleep(2.0)  # the flood settles: connections accepted, evicted, reopened

        results = []
        for i in range(requests):
            results.append(post(port, f"flood-{kind}-{i}"))
            time.sleep(0.1)

        attackers.stdin.close()
        flood_stats = json.loads(attackers.stdout.readline() or "{}")
        attackers.wait(30)
        server.stdin.close()
        server_stats = json.loads(server.stdout.readline() or "{}")
        server.wait(30)

    ok = [t for outcome, t in results if outcome == "200"]
    others = sorted({outcome for outcome, _ in results if outcome != "200"})
    latencies = sorted(t * 1000 for _, t in results)
    print(
        f"{kind:<9} N={n}: {len(ok)}/{requests} answered 200 within {CUSTOMERIO_TIMEOUT:g} s"
        f"{'  (others: ' + ', '.join(others) + ')' if others else ''}"
    )
    print(
        f"          latency p50 {statistics.median(latencies):.0f} ms, max {latencies[-1]:.0f} ms; "
        f"flood opened {flood_stats.get('opened')} connections, the receiver closed "
        f"{flood_stats.get('closed_by_receiver')} (evicted {server_stats.get('evicted')}), "
        f"{flood_stats.get('open')} open at the end; events stored {server_stats.get('stored')}"
    )
    return len(ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="connections the flood holds open")
    parser.add_argument("--kind", choices=["idle", "slowloris", "both"], default="both")
    parser.add_argument("--requests", type=int, default=20, help="valid signed webhooks to send")
    parser.add_argument("--no-reconnect", action="store_true", help="the flood does not reopen closed connections")
    parser.add_argument(
        "--addresses", type=int, default=1, help="spread the flood over this many source addresses (Linux)"
    )
    parser.add_argument("--source", help="run the receiver from this checkout instead (to compare)")
    # Roles of the child processes.
    parser.add_argument("--serve", metavar="INBOX", help=argparse.SUPPRESS)
    parser.add_argument("--fd-limit", type=int, default=4096, help=argparse.SUPPRESS)
    parser.add_argument("--flood", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve(args.serve, args.fd_limit)
        return 0
    if args.flood:
        flood(args.flood, args.n, args.kind, not args.no_reconnect, args.addresses)
        return 0

    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve()) + os.pathsep + env.get("PYTHONPATH", "")
    kinds = ["idle", "slowloris"] if args.kind == "both" else [args.kind]
    reconnect = not args.no_reconnect
    print(
        f"receiver from {args.source or 'this checkout'}; flood from {args.addresses} address(es), "
        f"{'reopening' if reconnect else 'not reopening'} the connections the receiver closes"
    )
    answered = {kind: scenario(kind, args.n, args.requests, reconnect, args.addresses, env) for kind in kinds}
    passed = all(ok >= 0.9 * args.requests for ok in answered.values())
    print("PASS" if passed else "FAIL", f"(target: >= 90% answered 200, i.e. 18 of 20, with N={args.n})")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
