"""Install the ``calico`` and ``calico-ipam`` executables into a CNI bin directory.

``python -m calico.cni.install --bin-dir /opt/cni/bin`` writes two small scripts that run this
interpreter in isolated mode without the ``site`` module (``-I -S``): the import path that
``site`` would have built (site-packages, the editable source tree) is written into the script
instead, which saves the .pth processing on every pod start. Each file is written to a temporary
name and renamed, so a runtime never executes a half-written plugin.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

PLUGINS = {"calico": "calico.cni.main", "calico-ipam": "calico.cni.ipam_main"}


# Each call is a short-lived process that exits through os._exit: the cyclic garbage collector
# would only make passes over the objects the imports create (≈ 1.5 ms of every call).
NO_GC = "import gc\ngc.disable()\n"


def script(module: str, python: str, extra_path: list[str] | None) -> str:
    if extra_path is None:  # could not work out the paths: let site find them
        return f"#!{python} -I\n{NO_GC}from {module} import main\nmain()\n"
    return (f"#!{python} -IS\n{NO_GC}import sys\nsys.path[1:1] = {extra_path!r}\n"
            f"from {module} import main\nmain()\n")


def site_paths(python: str) -> list[str] | None:
    """The sys.path entries ``site`` adds for ``python`` (None if they cannot be determined).

    When ``python`` cannot import the plugin with its own ``site`` paths (another interpreter of
    the same version, e.g. the distribution's optimised build), the installing interpreter's
    paths are used instead, if ``python`` can import the plugin with them.
    """
    own = _extra_paths(python, python)
    if own is None and os.path.realpath(python) != os.path.realpath(sys.executable):
        return _extra_paths(sys.executable, python)
    return own


def _extra_paths(source: str, python: str) -> list[str] | None:
    """What ``site`` adds to ``source``'s path, if ``python -IS`` can import the plugin with it."""
    code = "import json, sys; print(json.dumps(sys.path))"
    try:
        full = json.loads(subprocess.run([source, "-I", "-c", code], capture_output=True, check=True,
                                         timeout=30).stdout)
        bare = json.loads(subprocess.run([source, "-I", "-S", "-c", code], capture_output=True, check=True,
                                         timeout=30).stdout)
        extra = [p for p in full if p and p not in bare]
        check = subprocess.run([python, "-I", "-S", "-c", f"import sys; sys.path[1:1] = {extra!r}; "
                                "import calico.cni.main, calico.cni.plugin"], capture_output=True, timeout=30)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return extra if check.returncode == 0 else None


def install(bin_dir: str, python: str = sys.executable) -> list[str]:
    os.makedirs(bin_dir, exist_ok=True)
    extra = site_paths(python)
    written = []
    for name, module in PLUGINS.items():
        path = os.path.join(bin_dir, name)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(script(module, python, extra))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m calico.cni.install", description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", default="/opt/cni/bin", help="CNI plugin directory (default /opt/cni/bin)")
    parser.add_argument("--python", default=sys.executable, help="interpreter the plugins run with")
    args = parser.parse_args(argv)
    if not os.path.isabs(args.python) or not os.access(args.python, os.X_OK):
        print(f"error: --python {args.python!r} is not an executable absolute path", file=sys.stderr)
        return 2
    try:
        for path in install(args.bin_dir, args.python):
            print(f"installed {path}")
    except OSError as exc:
        print(f"error: cannot install into {args.bin_dir}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
