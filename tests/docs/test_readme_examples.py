"""The README's examples work as written (issue #13, items 3 and 4).

The commands are read from README.md itself, so an edited example is the one tested. Every
``curl`` example runs with the real curl against a served smsgate, its host and port swapped
for the test server's (an example with ``$KEY`` against one with that key); it must get a 2xx.
The Plivo emulator's recipe runs whole, as a shell script in an empty directory, with its
ports swapped for free ones: it must take a message to ``delivered`` through the emulator's
signed callbacks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from tests.conftest import ServeApp
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
KEY = "sg_readme_example_key_0123456789"
STATUS_MARK = "readme-example-status:"

pytestmark = pytest.mark.integration


def require_curl() -> str:
    curl = shutil.which("curl")
    if curl is not None:
        return curl
    if os.environ.get("CI"):
        pytest.fail("curl is not installed (CI is set, so this fails instead of skipping)")
    pytest.skip("curl is not installed: the README's examples need it")


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def commands(block: str) -> list[str]:
    """The block's commands, each with its continuation lines (``\\`` and a trailing ``|``)."""
    found: list[str] = []
    current = ""
    for line in block.splitlines():
        current = f"{current}\n{line}" if current else line
        if line.rstrip().endswith(("\\", "|")) or not _complete(current):
            continue
        if current.strip() and not current.lstrip().startswith("#"):
            found.append(current)
        current = ""
    return found


def _complete(command: str) -> bool:
    """Whether every quote the command opens is closed (a JSON body may span lines)."""
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def json_documents(output: str) -> list[dict[str, Any]]:
    """Every JSON object in ``output``: curl ends an answer without a newline, so the next
    log line may follow it on the same line."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    at = output.find("{")
    while at != -1:
        try:
            document, end = decoder.raw_decode(output, at)
        except json.JSONDecodeError:
            at = output.find("{", at + 1)
            continue
        if isinstance(document, dict):
            found.append(document)
        at = output.find("{", end)
    return found


def emulator_recipe(text: str) -> str:
    (recipe,) = [block for block in shell_blocks(text) if "smsgate emulator --port" in block]
    return recipe


def curl_examples(text: str) -> list[str]:
    recipe = emulator_recipe(text)
    return [
        command
        for block in shell_blocks(text)
        if block != recipe
        for command in commands(block)
        if re.search(r"(^|\s|\|)curl\s", command)
    ]


@dataclass(frozen=True)
class Ran:
    status: int
    body: str


def run_curl(command: str, base: str, tmp: Path) -> Ran:
    """``command`` run by bash with the README's server swapped for ``base``; curl writes each
    answer's status after it (a ``.curlrc`` of the test's, so the command stays as written)."""
    (tmp / ".curlrc").write_text(f'-w "\\n{STATUS_MARK}%{{http_code}}\\n"\n')
    swapped = re.sub(r"(https?://)?(localhost|127\.0\.0\.1):8000", base, command)
    done = subprocess.run(
        ["bash", "-c", swapped],
        env={**clean_environment(), "CURL_HOME": str(tmp), "KEY": KEY},
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (swapped, done.stderr)
    body, _, status = done.stdout.rpartition(STATUS_MARK)
    return Ran(int(status.strip()), body)


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SMSGATE_", "PLIVO_"))}


def test_the_readme_has_the_examples_this_test_runs() -> None:
    """A guard against a parser that silently finds nothing."""
    text = README.read_text()
    examples = curl_examples(text)
    assert len(examples) >= 4
    assert any("/api/send-sms" in e for e in examples)
    assert any("$KEY" in e for e in examples)
    assert "SMSGATE_PUBLIC_URL" in emulator_recipe(text)


@pytest.mark.parametrize("command", curl_examples(README.read_text()))
def test_every_curl_example_in_the_readme_works_as_written(
    command: str, serve: ServeApp, tmp_path: Path
) -> None:
    require_curl()
    if "$KEY" in command:
        # This machine has no DNS, so the webhook example's host (example.com) cannot be
        # resolved: the name check is off; the address rules are tested in test_webhooks.py.
        base = serve(api_keys=(SecretStr(KEY),), webhooks_allow_private=True)
    else:
        base = serve()
    ran = run_curl(command, base, tmp_path)
    assert 200 <= ran.status < 300, (command, ran.status, ran.body)
    if "/api/send-sms" in command:
        assert orjson.loads(ran.body)["success"] is True


def test_the_emulator_recipe_reaches_delivered(tmp_path: Path) -> None:
    """Followed literally, in a directory of its own: the message is delivered through the
    emulator's signed callbacks, and the fault and request examples answer."""
    require_curl()
    recipe = emulator_recipe(README.read_text())
    emulator, server = free_port(), free_port()
    smsgate = str(Path(sys.executable).parent / "smsgate")
    script = (
        recipe.replace(":8099", f":{emulator}")
        .replace("--port 8099", f"--port {emulator}")
        .replace(":8001", f":{server}")
        .replace("--port 8001", f"--port {server}")
        .replace(".venv/bin/smsgate", smsgate)
    )
    (tmp_path / "recipe.sh").write_text(script)
    process = subprocess.Popen(
        ["bash", "recipe.sh"],
        cwd=tmp_path,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the script and the servers it starts: one group to stop
    )
    try:
        out, err = process.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == 0, err[-2000:]
    documents = json_documents(out)
    listed = [d for d in documents if "data" in d]
    assert listed, out[-2000:]
    assert [m["status"] for m in listed[0]["data"]] == ["delivered"], listed
    assert any(d.get("status") == 503 and d.get("times") == 2 for d in documents), documents
    assert any(isinstance(d.get("requests"), list) and d["requests"] for d in documents)
