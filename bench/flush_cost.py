#!/usr/bin/env python3
"""What one durable flush costs on this disk, as the spool does it: 2000 writes of 2 KB, each followed by
fsync (file growing), fdatasync (file growing) or fdatasync into zero-filled room (the spool's way). The room is
written and flushed before the clock starts: that last figure is the cost between the spool's room growths.
   python3 bench/flush_cost.py [directory]      (default: .data, where the Api's spool lives)"""
import os, resource, sys, time

directory = sys.argv[1] if len(sys.argv) > 1 else ".data"
os.makedirs(directory, exist_ok=True)
path = os.path.join(directory, "flush-cost.tmp")
count, record = 2000, b"x" * 2000

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

def measure(name, flush, room):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    try:
        if room:
            os.write(fd, bytes(count * len(record)))
            os.fsync(fd)
        wall, used = time.perf_counter(), cpu()
        for i in range(count):
            os.pwrite(fd, record, i * len(record))
            flush(fd)
        wall, used = time.perf_counter() - wall, cpu() - used
        print(f"{name:32} {wall / count * 1e6:8.0f} µs per flush, {used / count * 1e6:6.0f} µs CPU")
    finally:
        os.close(fd)
        os.unlink(path)

measure("fsync, file growing", os.fsync, room=False)
measure("fdatasync, file growing", os.fdatasync, room=False)
measure("fdatasync into zero-filled room", os.fdatasync, room=True)
