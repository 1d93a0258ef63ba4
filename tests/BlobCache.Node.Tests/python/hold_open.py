"""Holds a file open across an event the caller makes happen (the node stopping or dying) and says what reading
it afterwards did, and how long that took: `ready` once the file is open and its start read; then, after a line on
stdin, `ok BYTES SECONDS` or `error ERRNO SECONDS` for a read at OFFSET.

  hold_open.py FILE OFFSET
"""
import os
import sys
import time


def main():
    path, offset = sys.argv[1], int(sys.argv[2])
    with open(path, "rb", buffering=0) as f:
        f.read(4096)
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.monotonic()
        try:
            os.lseek(f.fileno(), offset, os.SEEK_SET)
            data = f.read(65536)
            print(f"ok {len(data)} {time.monotonic() - started:.3f}", flush=True)
        except OSError as e:
            print(f"error {e.errno} {time.monotonic() - started:.3f}", flush=True)


if __name__ == "__main__":
    main()
