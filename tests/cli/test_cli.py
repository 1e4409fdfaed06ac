"""The `smsgate` command, run as a user runs it: in a subprocess, configured by environment."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorServer
from tests.support.servers import free_port

TOKEN = "s3cr3t-token-never-logged"


def environment(**values: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PLIVO_", "SMSGATE_"))}
    return {**base, **values}


def smsgate(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsgate", *args],
        capture_output=True,
        text=True,
        env=env or environment(),
        cwd=cwd,
        timeout=60,
        check=False,
    )


GOOD = {
    "PLIVO_AUTH_ID": "MAODUXYWQ2ZJAWZWY0OT",
    "PLIVO_AUTH_TOKEN": TOKEN,
    "PLIVO_SENDER_ID": "+14155550199",
}


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({**GOOD, "PLIVO_AUTH_ID": "MA-not-an-id"}, "PLIVO_AUTH_ID"),
        ({"SMSGATE_PROVIDER": "plivo"}, "PLIVO_AUTH_ID"),
        ({**GOOD, "PLIVO_AUTH_TOKEN": "x y"}, "PLIVO_AUTH_TOKEN"),
        ({k: v for k, v in GOOD.items() if k != "PLIVO_SENDER_ID"}, "PLIVO_SENDER_ID"),
        ({**GOOD, "PLIVO_SENDER_ID": "!!"}, "PLIVO_SENDER_ID"),
        ({"SMSGATE_PORT": "eighty"}, "SMSGATE_PORT"),
        ({"SMSGATE_PROVIDER": "twilio"}, "SMSGATE_PROVIDER"),
        ({"SMSGATE_HOST": "0.0.0.0"}, "SMSGATE_API_KEYS"),
        ({"SMSGATE_DEFAULT_REGION": "Narnia"}, "SMSGATE_DEFAULT_REGION"),
        ({"SMSGATE_PRICE_TABLE": "/nonexistent/prices.json"}, "SMSGATE_PRICE_TABLE"),
        ({"SMSGATE_PLIVO_TIMEOUT": "0"}, "SMSGATE_PLIVO_TIMEOUT"),
        ({"SMSGATE_PLIVO_MAX_CONNECTIONS": "many"}, "SMSGATE_PLIVO_MAX_CONNECTIONS"),
        ({**GOOD, "PLIVO_API_URL": "http://127.0.0.1:99999"}, "PLIVO_API_URL"),
    ],
    ids=[
        "malformed auth id",
        "plivo chosen without credentials",
        "malformed token",
        "missing sender",
        "malformed sender",
        "port not a number",
        "unknown provider",
        "open to the network without keys",
        "unknown region",
        "unreadable price table",
        "zero timeout",
        "connections not a number",
        "api url port out of range",
    ],
)
def test_serve_refuses_a_bad_configuration_with_exit_2_and_one_line(
    values: dict[str, str], variable: str, tmp_path: Path
) -> None:
    """One line on stderr that names the variable, no secret in it, and exit code 2."""
    result = smsgate("serve", "--port", str(free_port()), env=environment(**values), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"smsgate: {variable} "), lines[0]
    assert TOKEN not in result.stderr + result.stdout


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_serve_refuses_a_port_option_out_of_range(port: str, tmp_path: Path) -> None:
    result = smsgate("serve", "--port", port, cwd=tmp_path)
    assert result.returncode == 2
    assert "port" in result.stderr.lower()


def test_the_emulator_refuses_to_listen_beyond_this_machine_without_expose() -> None:
    """Its control API has no authentication; exposing it must be a decision."""
    result = smsgate("emulator", "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    assert "--expose" in result.stderr


def test_serve_reads_a_dotenv_file_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "PLIVO_AUTH_ID=MAODUXYWQ2ZJAWZWY0OT\nPLIVO_AUTH_TOKEN=abcdefghij\n"
    )
    result = smsgate("serve", "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 2
    assert "PLIVO_SENDER_ID" in result.stderr


def test_serve_on_all_interfaces_starts_with_insecure_no_auth_flag(tmp_path: Path) -> None:
    """The flag is the operator's explicit choice; without it the same command exits 2."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smsgate",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--insecure-no-auth",
        ],
        env=environment(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode in (0, -signal.SIGTERM)


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited: {process.stderr.read() if process.stderr else ''!r}"
            )
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


@pytest.mark.integration
def test_serve_logs_one_json_line_per_request_and_call_with_the_number_masked(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    """Logs carry outcome, latency and a masked number; never the text or the auth token."""
    port = free_port()
    env = environment(
        PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
        PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PLIVO_SENDER_ID="+14155550199",
        PLIVO_API_URL=emulator.base_url,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "smsgate", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/send-sms",
            json={"to": "+14155552671", "text": "secret code 424242"},
            headers={"X-Request-ID": "req-abc-123"},
            timeout=10,
        )
        assert response.status_code == 200
        # Plivo's rejection text repeats the number: it reaches the caller, never the log.
        emulator.set_faults(status=400, body='{"error": "\'14155552671\' is not valid"}')
        rejected = httpx.post(
            f"http://127.0.0.1:{port}/api/send-sms",
            json={"to": "+14155552671", "text": "secret code 424242"},
            timeout=10,
        )
        assert rejected.status_code == 400
        assert "14155552671" in rejected.json()["error"]
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode in (0, -signal.SIGTERM), stderr
    output = stdout.decode() + stderr.decode()
    basic = base64.b64encode(f"{DEFAULT_AUTH_ID}:{DEFAULT_AUTH_TOKEN}".encode()).decode()
    for secret in ("424242", DEFAULT_AUTH_TOKEN, basic, "14155552671"):
        assert secret not in output
    # Every line is JSON, on both streams: smsgate's own, and uvicorn's and Alembic's through
    # the same renderer (issue #13, item 7).
    lines = [line for line in output.splitlines() if line.strip()]
    assert [line for line in lines if not line.startswith("{")] == []
    logged = [json.loads(line) for line in lines]
    loggers = {e.get("logger_name") for e in logged}
    assert {"uvicorn.error", "alembic.runtime.migration"} <= loggers, loggers
    assert all({"event", "level", "timestamp", "logger_name"} <= set(e) for e in logged)
    assert any(e["event"] == "serving" and e["url"] == f"http://127.0.0.1:{port}" for e in logged)
    events = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    call = next(e for e in events if e["event"] == "provider_call")
    assert call["to"] == "+1415***2671"
    assert call["outcome"] == "accepted"
    assert call["request_id"] == "req-abc-123"
    assert isinstance(call["latency_ms"], float)
    request = next(e for e in events if e["event"] == "request" and e["path"] == "/api/send-sms")
    assert request["status"] == 200
    assert request["request_id"] == "req-abc-123"
    refusal = [e for e in events if e["event"] == "provider_call"][-1]
    assert (refusal["outcome"], refusal["http_status"]) == ("rejected", 400)


def test_send_with_the_sandbox_prints_the_result_and_exits_0(tmp_path: Path) -> None:
    result = smsgate("send", "--to", "+14155552671", "--text", "hello", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["success"] is True
    assert answer["to"] == "+14155552671"


def test_send_exits_1_when_the_provider_does_not_take_the_message(tmp_path: Path) -> None:
    """The sandbox's 'Plivo down' number: exit 1 and the reason on stderr."""
    result = smsgate("send", "--to", "+15005550003", "--text", "hello", cwd=tmp_path)
    assert result.returncode == 1
    assert "provider_unavailable" in result.stderr


def test_send_exits_2_on_a_bad_number(tmp_path: Path) -> None:
    result = smsgate("send", "--to", "12", "--text", "hello", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid_number_format" in result.stderr or "number" in result.stderr


@pytest.mark.integration
def test_send_goes_through_plivo_when_configured(tmp_path: Path, emulator: EmulatorServer) -> None:
    env = environment(
        PLIVO_AUTH_ID=DEFAULT_AUTH_ID,
        PLIVO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
        PLIVO_SENDER_ID="+14155550199",
        PLIVO_API_URL=emulator.base_url,
    )
    result = smsgate("send", "--to", "+14155552671", "--text", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "via plivo" in result.stdout
    assert len(emulator.call(lambda: list(emulator.state.messages))) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", {"encoding": "GSM-7", "units": 5, "segments": 1}),
        ("a" * 161, {"encoding": "GSM-7", "units": 161, "segments": 2}),
        ("€", {"encoding": "GSM-7", "units": 2, "segments": 1}),
        ("héllo ç", {"encoding": "UCS-2", "units": 7, "segments": 1}),
        ("👋" * 36, {"encoding": "UCS-2", "units": 72, "segments": 2}),
    ],
    ids=["short", "two parts", "extension char", "ucs-2", "emoji"],
)
def test_segments_reports_encoding_length_and_segments(
    text: str, expected: dict[str, object]
) -> None:
    result = smsgate("segments", text, "--json")
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert {k: document[k] for k in expected} == expected


def test_segments_in_words_names_the_characters_that_force_ucs2() -> None:
    result = smsgate("segments", "naïve ç")
    assert "UCS-2" in result.stdout
    assert "'ç'" in result.stdout


def test_the_command_without_arguments_shows_help() -> None:
    result = smsgate()
    for command in ("serve", "send", "segments", "emulator"):
        assert command in result.stdout + result.stderr


def test_db_upgrade_creates_the_schema_and_can_run_again(tmp_path: Path) -> None:
    env = environment(SMSGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'store.db'}")
    for _ in range(2):
        result = smsgate("db", "upgrade", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "store.db") as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"messages", "message_events", "idempotency_keys", "alembic_version"} <= names


def test_an_unreachable_database_stops_serve_with_one_line_and_no_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql://smsgate:hunter2secret@127.0.0.1:{free_port()}/none"
    result = smsgate(
        "serve", "--port", str(free_port()), env=environment(SMSGATE_DATABASE_URL=url), cwd=tmp_path
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("smsgate: SMSGATE_DATABASE_URL")
    assert "hunter2secret" not in result.stderr + result.stdout


def test_an_unsupported_database_url_is_refused_at_once(tmp_path: Path) -> None:
    env = environment(SMSGATE_DATABASE_URL="mysql://root@localhost/smsgate")
    result = smsgate("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("smsgate: SMSGATE_DATABASE_URL ")
