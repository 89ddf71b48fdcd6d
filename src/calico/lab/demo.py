"""`make demo`: start a throwaway etcd, apply the seed resources with calicoctl, print them back.

The virtual data center will grow here; today the demo shows the datastore and calicoctl end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from calico.lab.etcd import EtcdServer

ROOT = Path(__file__).resolve().parents[3]
SEED = ROOT / "examples" / "seed-v1.yaml"


def _calicoctl(env: dict[str, str], *args: str) -> int:
    print(f"\n$ calicoctl {' '.join(args)}", flush=True)
    exe = Path(sys.executable).with_name("calicoctl")
    return subprocess.run([str(exe), *args], env=env, check=False).returncode


def main() -> int:
    etcd = EtcdServer().start()
    env = dict(os.environ, DATASTORE_TYPE="etcdv3", ETCD_ENDPOINTS=etcd.url)
    try:
        print(f"etcd started (pid {etcd.proc.pid if etcd.proc else '?'}) at {etcd.url}, data in {etcd.workdir}")
        rc = 0
        rc |= _calicoctl(env, "apply", "-f", str(SEED))
        rc |= _calicoctl(env, "get", "ippools", "-o", "wide")
        rc |= _calicoctl(env, "get", "profiles", "-o", "wide")
        rc |= _calicoctl(env, "get", "bgppeers")
        rc |= _calicoctl(env, "get", "ippool", "172-16-100-0-24", "-o", "yaml")
        print("\n$ etcdctl get --prefix /calico/resources/v3 --keys-only")
        print(etcd.etcdctl("get", "--prefix", "/calico/resources/v3", "--keys-only").stdout, end="")
        return rc
    finally:
        etcd.remove()
        print("etcd stopped and its data removed")


if __name__ == "__main__":
    sys.exit(main())
