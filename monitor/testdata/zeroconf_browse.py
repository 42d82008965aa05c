#!/usr/bin/python3
"""An independent mDNS browser for BenchmarkBrowse: python-zeroconf (Debian's
python3-zeroconf) browses _vigil._tcp and prints the seconds it took to see
COUNT instances whose names start with PREFIX, or "timeout"."""
import sys
import threading
import time

from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

prefix, count, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
seen = set()
done = threading.Event()


def changed(zeroconf, service_type, name, state_change):
    if state_change is ServiceStateChange.Added and name.startswith(prefix):
        seen.add(name)
        if len(seen) >= count:
            done.set()


zc = Zeroconf()
browser = ServiceBrowser(zc, "_vigil._tcp.local.", handlers=[changed])
if done.wait(limit):
    print("%.3f" % (time.monotonic() - start), flush=True)
else:
    print("timeout %d" % len(seen), flush=True)
zc.close()
