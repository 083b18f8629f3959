#!/usr/bin/env python3
"""A link with delay, jitter and loss between two TUN devices (the kernel here has no netem).

Usage: tun-link.py NAME_A NAME_B
Opens (creates) TUN devices NAME_A and NAME_B in the current network namespace and copies every
IP packet read from one into the other, after `delay` ms plus a uniform random `jitter` ms, and
drops a `loss` fraction of them at random. Packets keep their order in each direction (a
packet waits at least as long as the one before it), as on a real link. Move a device into
another namespace with `ip link set NAME netns NS`; the link keeps working.

Standard input takes one command per line:
  set delay=75 jitter=10 loss=0.03     change settings (any subset; loss is a fraction 0..1)
  stats                                print "stats forwarded=N dropped=N"
Prints "ready" once both devices are open. Exits when standard input closes.
"""
import fcntl
import os
import random
import select
import struct
import sys
import time
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    a = open_tun(sys.argv[1])
    b = open_tun(sys.argv[2])
    peer = {a: b, b: a}
    settings = {"delay": 0.0, "jitter": 0.0, "loss": 0.0}
    # One FIFO per direction: (due time, packet); a later packet is never due before an earlier one.
    queues = {a: deque(), b: deque()}
    forwarded = 0
    dropped = 0
    stdin = sys.stdin.fileno()
    print("ready", flush=True)
    buffered = b""
    while True:
        now = time.monotonic()
        timeout = None
        for q in queues.values():
            if q:
                wait = max(0.0, q[0][0] - now)
                timeout = wait if timeout is None else min(timeout, wait)
        readable, _, _ = select.select([a, b, stdin], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            if fd == stdin:
                chunk = os.read(stdin, 4096)
                if not chunk:
                    return
                buffered += chunk
                while b"\n" in buffered:
                    line, buffered = buffered.split(b"\n", 1)
                    words = line.decode().split()
                    if words[:1] == ["set"]:
                        for word in words[1:]:
                            key, _, value = word.partition("=")
                            if key in settings:
                                settings[key] = float(value)
                        print("ok", flush=True)
                    elif words[:1] == ["stats"]:
                        print(f"stats forwarded={forwarded} dropped={dropped}", flush=True)
                continue
            while True:
                try:
                    packet = os.read(fd, 65535)
                except BlockingIOError:
                    break
                if settings["loss"] > 0 and random.random() < settings["loss"]:
                    dropped += 1
                    continue
                q = queues[fd]
                due = now + (settings["delay"] + random.uniform(0, settings["jitter"])) / 1000
                if q and q[-1][0] > due:
                    due = q[-1][0]
                q.append((due, packet))
        for fd, q in queues.items():
            while q and q[0][0] <= now:
                _, packet = q.popleft()
                try:
                    os.write(peer[fd], packet)
                    forwarded += 1
                except OSError:
                    # The other device is down (or not up yet): the packet is lost, as on a wire.
                    dropped += 1


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
