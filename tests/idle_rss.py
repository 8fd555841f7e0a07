#!/usr/bin/env python3
"""Memory per idle connection of a server binary, over real TCP (issue 11
item 2). Starts the server on port 0, opens 50 warm-up connections, then N
more that each read their first line and stay idle, and prints the growth of
the server's resident set size per connection. Not part of `make test`.

    python3 tests/idle_rss.py target/release/chat-server "--addr 127.0.0.1:0" 5000
    python3 tests/idle_rss.py target/release/tombola-server "--addr 127.0.0.1:0 --players 1000" 5000
    python3 tests/idle_rss.py target/release/tombola-live-server \
        "--numbers-addr 127.0.0.1:0 --claims-addr 127.0.0.1:0" 5000
"""
import socket, subprocess, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
binary, args, n = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
p = subprocess.Popen([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
addr = p.stdout.readline().decode().split()[-1]
host, port = addr.rsplit(':', 1)
def rss():
    for line in open(f'/proc/{p.pid}/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1])
time.sleep(0.3)
socks = []
# warm up: a few connections so one-time allocations are not counted
for _ in range(50):
    s = socket.create_connection((host, int(port))); s.recv(200); socks.append(s)
time.sleep(0.5)
before = rss()
for _ in range(n):
    s = socket.create_connection((host, int(port))); s.recv(200); socks.append(s)
time.sleep(1.0)
after = rss()
print(f"{binary.split('/')[-1]}: RSS {before} KiB -> {after} KiB over {n} idle connections: {(after-before)/n:.2f} KiB per connection")
p.terminate(); p.wait()
