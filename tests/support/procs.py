"""Polling waits and process stopping, shared with the lab (calico.lab.procs)."""

from calico.lab.procs import stop_process, wait_until

__all__ = ["stop_process", "wait_until"]
