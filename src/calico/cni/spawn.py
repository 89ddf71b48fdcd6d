"""Run a short helper (``ip``, ``nsenter``) and collect its exit status and output.

Why not ``subprocess``: importing it (with selectors, signal handling and threading) costs a few
milliseconds of every pod's start-up, and the plugin only ever needs "spawn, feed stdin, read
both outputs, wait". ``os.posix_spawnp`` plus ``select`` do exactly that.
"""

from __future__ import annotations

import os
import select
import time

from calico.common.record import record


@record
class Completed:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would have returned."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def run(argv: list[str], stdin: str | None = None, timeout: float = 30) -> Completed:
    """Run ``argv`` (searched in PATH) to completion; kill it after ``timeout`` seconds (TimeoutError)."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)])
    except BaseException:
        for fd in (in_w, out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    data = (stdin or "").encode()
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    writing = [in_w] if data else []
    if not data:
        os.close(in_w)
    reading = [out_r, err_r]
    deadline = time.monotonic() + timeout
    try:
        while reading or writing:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, 9)
                raise TimeoutError(f"{' '.join(argv)} did not finish within {timeout} s")
            readable, writable, _ = select.select(reading, writing, [], left)
            for fd in writable:
                try:
                    sent = os.write(fd, data[:4096])  # never blocks once select says writable
                except BrokenPipeError:
                    sent = len(data)
                data = data[sent:]
                if not data:
                    os.close(fd)
                    writing.remove(fd)
            for fd in readable:
                chunk = os.read(fd, 65536)
                if chunk:
                    chunks[fd].append(chunk)
                else:
                    reading.remove(fd)
    finally:
        for fd in (*writing, out_r, err_r):
            os.close(fd)
        status = os.waitpid(pid, 0)[1]
    return Completed(argv, os.waitstatus_to_exitcode(status), b"".join(chunks[out_r]).decode(errors="replace"),
                     b"".join(chunks[err_r]).decode(errors="replace"))
