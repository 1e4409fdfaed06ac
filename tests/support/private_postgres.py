"""A private PostgreSQL server for tests that must restart one mid-run.

The shared server on 127.0.0.1:5432 serves every other test, so it is never restarted; this
one is made with Debian's ``initdb`` in a temporary folder, on a free port, and thrown away
after. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user.
Without the binaries, tests skip, unless CI is set: then they fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.servers import free_port


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    def __init__(self, binaries: Path, root: Path, port: int) -> None:
        self.binaries = binaries
        self.root = root
        self.data = root / "data"
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def crash_and_restart(self) -> None:
        """Stop as a crash would (no clean shutdown, connections cut), then start again."""
        self.stop("immediate")
        self.start()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    binaries = _binaries()
    if binaries is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        problem = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI is set, so this fails instead of skipping)")
        pytest.skip(problem)
    root = Path(tempfile.mkdtemp(prefix="smsgate-pg-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    server = PrivatePostgres(binaries, root, free_port())
    try:
        server.create()
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # it was not running
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
