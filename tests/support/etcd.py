"""The tests' etcd is the lab's (calico.lab.etcd)."""

from calico.lab.etcd import EtcdServer, free_port

__all__ = ["EtcdServer", "free_port"]
