"""The installer writes runnable `calico` and `calico-ipam` executables into a CNI bin directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_install_writes_working_plugins(tmp_path: Path) -> None:
    bin_dir = tmp_path / "opt" / "cni" / "bin"
    proc = subprocess.run([sys.executable, "-m", "calico.cni.install", "--bin-dir", str(bin_dir)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for name in ("calico", "calico-ipam"):
        path = bin_dir / name
        assert f"installed {path}" in proc.stdout and os.access(path, os.X_OK)
        out = subprocess.run([str(path)], input=b'{"cniVersion": "1.0.0"}', capture_output=True, check=False,
                             env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"})
        assert out.returncode == 0 and json.loads(out.stdout)["cniVersion"] == "1.0.0"
        version = subprocess.run([str(path), "-v"], capture_output=True, text=True, check=False)
        assert version.stdout.strip().startswith("v")


def test_install_refuses_a_bad_interpreter(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "calico.cni.install", "--bin-dir", str(tmp_path),
                           "--python", "python3"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "--python" in proc.stderr and not list(tmp_path.iterdir())
