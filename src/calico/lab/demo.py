"""`make demo`: start a throwaway etcd, apply the seed resources with calicoctl, print them back.

The virtual data center will grow here; today the demo shows the datastore and calicoctl end to end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SEED = ROOT / "examples" / "seed-v1.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _calicoctl(env: dict[str, str], *args: str) -> int:
    print(f"\n$ calicoctl {' '.join(args)}", flush=True)
    exe = Path(sys.executable).with_name("calicoctl")
    return subprocess.run([str(exe), *args], env=env, check=False).returncode


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="calico-demo-"))
    port, peer = _free_port(), _free_port()
    log = open(workdir / "etcd.log", "wb")
    etcd = subprocess.Popen(
        ["etcd", "--name", "demo", "--data-dir", str(workdir / "data"),
         "--listen-client-urls", f"http://127.0.0.1:{port}", "--advertise-client-urls", f"http://127.0.0.1:{port}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls",
         f"http://127.0.0.1:{peer}", "--initial-cluster", f"demo=http://127.0.0.1:{peer}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    env = dict(os.environ, DATASTORE_TYPE="etcdv3", ETCD_ENDPOINTS=f"http://127.0.0.1:{port}")
    try:
        print(f"etcd started (pid {etcd.pid}) on 127.0.0.1:{port}, data in {workdir}")
        for _ in range(100):
            if subprocess.run(["etcdctl", "--endpoints", env["ETCD_ENDPOINTS"], "endpoint", "health"],
                              capture_output=True, env={"ETCDCTL_API": "3", "PATH": os.environ["PATH"]}).returncode == 0:
                break
            time.sleep(0.1)
        rc = 0
        rc |= _calicoctl(env, "apply", "-f", str(SEED))
        rc |= _calicoctl(env, "get", "ippools", "-o", "wide")
        rc |= _calicoctl(env, "get", "profiles", "-o", "wide")
        rc |= _calicoctl(env, "get", "bgppeers")
        rc |= _calicoctl(env, "get", "ippool", "172-16-100-0-24", "-o", "yaml")
        print("\n$ etcdctl get --prefix /calico/resources/v3 --keys-only")
        subprocess.run(["etcdctl", "--endpoints", env["ETCD_ENDPOINTS"], "get", "--prefix",
                        "/calico/resources/v3", "--keys-only"], env={"ETCDCTL_API": "3", "PATH": os.environ["PATH"]},
                       check=False)
        return rc
    finally:
        etcd.send_signal(signal.SIGTERM)
        try:
            etcd.wait(10)
        except subprocess.TimeoutExpired:
            etcd.kill()
            etcd.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
