#!/usr/bin/env python3
"""outside.py - an outside timer for Lambda bootstraps, independent of ember-bench.

It shares no code with bench/ember-bench: its own Runtime API (Python's
socket module), its own spawn (os.posix_spawn), its own clock reads.  For
each sample it takes t0 just before the spawn and stops the clock when the
first POST .../response has been received whole; then it kills the process.
Bootstraps run interleaved, one of each per round, the order rotating each
round, so drift falls on all.

    bench/outside.py -n 100 NAME=PATH [NAME=PATH ...] [--env K=V ...]

Prints, per bootstrap, the p50 and p95 in ms and the ratio of each p50 to the
first one's.  Used to check that ember-bench times what an outside timer
sees (bench/README.md); never part of `make check`.
"""
import argparse
import os
import select
import signal
import socket
import statistics
import sys
import time

# An API Gateway HTTP API (payload 2.0) event as the gateway sends it (the same
# fields as ember-bench's, written out again here).
EVENT = (b'{"version":"2.0","routeKey":"$default","rawPath":"%s","rawQueryString":"",'
         b'"headers":{"accept":"application/json","accept-encoding":"gzip, deflate, br",'
         b'"content-length":"0","host":"r3pmxmplak.execute-api.us-east-1.amazonaws.com",'
         b'"user-agent":"outside/1.0","x-amzn-trace-id":"Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e",'
         b'"x-forwarded-for":"127.0.0.1","x-forwarded-port":"443","x-forwarded-proto":"https"%s},'
         b'"requestContext":{"accountId":"123456789012","apiId":"r3pmxmplak",'
         b'"domainName":"r3pmxmplak.execute-api.us-east-1.amazonaws.com","domainPrefix":"r3pmxmplak",'
         b'"http":{"method":"GET","path":"%s","protocol":"HTTP/1.1","sourceIp":"127.0.0.1",'
         b'"userAgent":"outside/1.0"},"requestId":"JKJaXmPLvHcESHA=","routeKey":"$default",'
         b'"stage":"$default","time":"10/Mar/2020:05:16:23 +0000","timeEpoch":1583817383220},'
         b'"isBase64Encoded":false}')


def take_request(buf):
    """(head, body, rest) of the whole HTTP request at buf's start, or None.
    Bodies by Content-Length or chunked (Go's runtime sends chunked)."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].decode("latin-1")
    clen, chunked = 0, False
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            clen = int(v)
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    pos = head_end + 4
    if not chunked:
        if len(buf) < pos + clen:
            return None
        return head, buf[pos:pos + clen], buf[pos + clen:]
    body = b""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buf[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)    # trailers, then a blank line
            if end < 0:
                return None
            return head, body, buf[end + 4:]
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos:pos + size]
        pos += size + 2


def one(path, env, lsock, event, log, timeout=15.0):
    """Spawns path, serves one event; returns ms from spawn to the response."""
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    t0 = time.monotonic_ns()
    pid = os.posix_spawn(path, [path], env, file_actions=fa)
    conns = {}                          # socket -> bytes not yet parsed
    end = None
    deadline = time.monotonic() + timeout
    try:
        while end is None:
            if time.monotonic() > deadline:
                raise RuntimeError("%s: no response in %.0f s" % (path, timeout))
            ready, _, _ = select.select([lsock] + list(conns), [], [], 0.5)
            for sock in ready:
                if sock is lsock:
                    conn, _ = lsock.accept()
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    conns[conn] = b""
                    continue
                data = sock.recv(65536)
                if not data:
                    sock.close()
                    del conns[sock]
                    continue
                conns[sock] += data
                while end is None:
                    req = take_request(conns[sock])
                    if req is None:
                        break
                    head, body, conns[sock] = req
                    method, target = head.split(" ")[:2]
                    if method == "GET" and target.endswith("/invocation/next"):
                        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Lambda-Runtime-Aws-Request-Id: 0001\r\n"
                                     b"Lambda-Runtime-Deadline-Ms: %d\r\n"
                                     b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:"
                                     b"us-east-1:123456789012:function:outside\r\n"
                                     b"Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;"
                                     b"Parent=9a9197af755a6419;Sampled=1\r\n"
                                     b"Content-Length: %d\r\n\r\n"
                                     % (int(time.time() * 1000) + 30000, len(event)) + event)
                    elif method == "POST" and target.endswith("/response"):
                        end = time.monotonic_ns()
                        if b'"statusCode":200' not in body:
                            raise RuntimeError("%s answered %r" % (path, body[:200]))
                    else:
                        raise RuntimeError("%s: unexpected %s %s %r"
                                           % (path, method, target, body[:200]))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for sock in conns:
            sock.close()
    return (end - t0) / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--path", default="/hello", help="the event's path (default /hello)")
    ap.add_argument("--auth", default=None, help="a bearer token for the event")
    ap.add_argument("--log", default="/dev/null", help="the bootstraps' stderr (default /dev/null)")
    ap.add_argument("--env", action="append", default=[], help="K=V for every bootstrap")
    ap.add_argument("bootstraps", nargs="+", help="NAME=PATH")
    a = ap.parse_args()

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin",
           "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % port,
           "AWS_LAMBDA_FUNCTION_NAME": "outside", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "AWS_REGION": "us-east-1"}
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    auth = b',"authorization":"Bearer %s"' % a.auth.encode() if a.auth else b""
    p = a.path.encode()
    event = EVENT % (p, auth, p)
    names, paths = [], []
    for nb in a.bootstraps:
        name, _, path = nb.partition("=")
        names.append(name)
        paths.append(os.path.abspath(path))
    samples = {n: [] for n in names}
    rows = list(zip(names, paths))
    for i in range(a.n):
        # the order rotates each round: no row always runs first, or after the same one
        for name, path in rows[i % len(rows):] + rows[:i % len(rows)]:
            samples[name].append(one(path, env, lsock, event, a.log))
    base = statistics.median(samples[names[0]])
    print("outside timer: spawn -> first /response received, %d per row, interleaved" % a.n)
    for name in names:
        s = sorted(samples[name])
        p50 = statistics.median(s)
        p95 = s[min(len(s) - 1, int(0.95 * len(s)))]
        print("  %-16s p50 %7.3f ms  p95 %7.3f ms  x %s %.2f" % (name, p50, p95, names[0], p50 / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
