"""`make run` serves where the settings say, from `.env` or the environment (issue #13, item 1).

These run the real Makefile in a copy of the checkout's top level, so the `.env` they write is
the copy's own; the copy shares this checkout's virtual environment (a link), so `make run`'s
set-up step finds it installed and serving starts at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The Makefile, lock files and project file beside a link to this checkout's venv."""
    copy = tmp_path / "smsgate"
    copy.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(ROOT / "requirements", copy / "requirements")
    (copy / ".venv").symlink_to(ROOT / ".venv")
    stamps = [ROOT / ".venv" / ".main-installed", ROOT / ".venv" / ".dev-installed"]
    if not all(stamp.exists() for stamp in stamps):
        pytest.skip("the checkout's .venv was not made by make install")
    # Older than the venv's stamps, so make finds the set-up done and never reinstalls (which
    # would point the shared venv's editable install at this copy).
    before = min(stamp.stat().st_mtime for stamp in stamps) - 10
    for name in ("Makefile", "pyproject.toml", "requirements/main.txt", "requirements/dev.txt"):
        os.utime(copy / name, (before, before))
    question = subprocess.run(["make", "-q", ".venv/.main-installed"], cwd=copy, check=False)
    assert question.returncode == 0, "make would set up again in the copy"
    return copy


@contextmanager
def make_run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[None]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SMSGATE_", "PLIVO_"))}
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", *args],
        cwd=cwd,
        env={**clean, "SMSGATE_DATABASE_URL": f"sqlite:///{cwd}/run.db", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # make and the server it starts: one group to stop
    )
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def serving(port: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    return False


def test_make_run_serves_on_the_port_the_env_file_names(checkout: Path) -> None:
    port = free_port()
    (checkout / ".env").write_text(f"SMSGATE_PORT={port}\n")
    with make_run(checkout):
        assert serving(port)


def test_make_run_serves_on_the_port_the_environment_names(checkout: Path) -> None:
    port = free_port()
    with make_run(checkout, env={"SMSGATE_PORT": str(port)}):
        assert serving(port)


def test_a_port_on_makes_command_line_wins(checkout: Path) -> None:
    mine, settings = free_port(), free_port()
    (checkout / ".env").write_text(f"SMSGATE_PORT={settings}\n")
    with make_run(checkout, f"PORT={mine}"):
        assert serving(mine)
        assert not serving(settings, seconds=0.5)


def test_a_public_host_from_the_env_file_without_keys_is_refused(checkout: Path) -> None:
    """The bind address comes from .env too, so serve's open-endpoint gate sees it."""
    (checkout / ".env").write_text(f"SMSGATE_HOST=0.0.0.0\nSMSGATE_PORT={free_port()}\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SMSGATE_", "PLIVO_"))}
    output = checkout / "run.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=checkout,
            env={**clean, "SMSGATE_DATABASE_URL": f"sqlite:///{checkout}/run.db"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a server that wrongly started is stopped with make
        )
        try:
            returncode = process.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert returncode != 0
    assert "SMSGATE_API_KEYS" in output.read_text()
