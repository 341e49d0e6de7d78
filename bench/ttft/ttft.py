#!/usr/bin/env python3
"""Time to first token of streamed chat completions, straight to an upstream and through the gateway.

ttft.py --direct PORT --gateway PORT [-n 50] [--out FILE]: sends n stream: true requests to each (alternating,
every prompt distinct, so every gateway request is a streamed miss), one at a time on a new connection each,
and measures from the first byte of the request written to the first SSE event with non-empty delta content
read. Prints median and p99 of each side and of gateway minus direct; exits 1 on any failed request."""
import argparse
import json
import socket
import statistics
import sys
import time
import uuid


def ttft(port, prompt):
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": prompt}]}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nx-l0l3-namespace: ttft\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        s.sendall(head + body)
        seen = b""
        first = None
        while True:
            data = s.recv(65536)
            if not data:
                break
            seen += data
            if first is None:
                at = seen.find(b'"content":"')
                while at >= 0:
                    nxt = at + len(b'"content":"')
                    if nxt < len(seen) and seen[nxt:nxt + 1] != b'"':
                        first = time.perf_counter() - start
                        break
                    at = seen.find(b'"content":"', at + 1)
            if b"data: [DONE]" in seen:
                break
    if first is None or not seen.startswith(b"HTTP/1.1 200") or b"data: [DONE]" not in seen:
        raise RuntimeError(f"port {port}: no streamed answer: {seen[:300]!r}")
    return first * 1000.0


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--direct", type=int, required=True)
    ap.add_argument("--gateway", type=int, required=True)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--out")
    a = ap.parse_args()
    run = uuid.uuid4().hex[:8]
    direct, gateway = [], []
    for i in range(a.n):
        direct.append(ttft(a.direct, f"TTFT question {i} of run {run}, direct"))
        gateway.append(ttft(a.gateway, f"TTFT question {i} of run {run}, via the gateway"))
    diff = [g - d for g, d in zip(gateway, direct)]
    rows = [("direct", direct), ("gateway", gateway), ("gateway - direct (pairwise)", diff)]
    lines = [f"{'':28} {'median ms':>10} {'p99 ms':>10}"]
    for name, v in rows:
        lines.append(f"{name:28} {statistics.median(v):10.3f} {pct(v, 99):10.3f}")
    lines.append(f"median difference: {statistics.median(gateway) - statistics.median(direct):.3f} ms; "
                 f"p99 difference: {pct(gateway, 99) - pct(direct, 99):.3f} ms ({a.n} requests each)")
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"direct_ms": direct, "gateway_ms": gateway}, f)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a failed request fails the run
        print(f"ttft.py: {e}", file=sys.stderr)
        sys.exit(1)
