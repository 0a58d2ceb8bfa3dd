"""Offline text and data sources from Debian packages, installed or fetched with ``apt-get download``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from emendo.errors import EmendoError


def package_root(pkg: str, probe: str, cache: Path) -> tuple[Path, str]:
    """A directory under which ``probe`` (an absolute path inside the package) exists.

    The installed package when it is installed, else the package unpacked from
    ``apt-get download`` into ``cache``. Returns (root, version).
    """
    if Path(probe).exists():
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                                 text=True, check=False).stdout.strip()
        if version:
            return Path("/"), version
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{pkg}_*.deb"))
    if not found:
        print(f"  apt-get download {pkg}", file=sys.stderr)
        proc = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True,
                              check=False)
        found = sorted(debs.glob(f"{pkg}_*.deb"))
        if not found:
            raise EmendoError(f"apt-get download {pkg} failed (run `apt-get update` first?):\n{proc.stderr}")
    deb = found[-1]
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    root = cache / "root" / f"{pkg}_{version}"
    if not (root / probe.lstrip("/")).exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root, version

