#!/usr/bin/env python3
"""The disk's floor for one write to a project: replace a file of the same size as its
work-index.yaml atomically and durably, as worksync does for each batch (write a temp file,
fsync it, rename it over, fsync the directory), N times; prints the rate.

    python3 bench/atomic_write.py PATH [N]

bench/run.sh states add_backlog on a large project as a share of this rate, measured in the
same minute on the same disk.
"""
import os
import sys
import time


def main():
    path, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with open(path, "rb") as f:
        data = f.read()
    directory = os.path.dirname(os.path.abspath(path))
    target = os.path.join(directory, ".atomic-write-bench")
    started = time.perf_counter()
    for i in range(count):
        temp = f"{target}.{i}.tmp"
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
        fd = os.open(directory, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    elapsed = time.perf_counter() - started
    os.remove(target)
    print(f"atomic write of {len(data) // 1024} KB, {count} times: rate={count / elapsed:.0f} writes/s")


if __name__ == "__main__":
    main()
