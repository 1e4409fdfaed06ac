"""A Plivo Message API emulator: a real HTTP server for tests, benchmarks and local runs.

It answers like Plivo (202 with message UUIDs, Plivo-shaped 400/401/404 errors), posts
signed status callbacks, records every request, and injects faults on demand. Its control
API under ``/_emulator/`` has no authentication: it is a test double, not a service.
"""

from smsgate.emulator.app import create_emulator_app
from smsgate.emulator.faults import Faults, InvalidFaults
from smsgate.emulator.records import CallbackAttempt, MessageRecord, Outcome, RequestRecord
from smsgate.emulator.server import EmulatorServer, run_emulator
from smsgate.emulator.state import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorState

__all__ = [
    "DEFAULT_AUTH_ID",
    "DEFAULT_AUTH_TOKEN",
    "CallbackAttempt",
    "EmulatorServer",
    "EmulatorState",
    "Faults",
    "InvalidFaults",
    "MessageRecord",
    "Outcome",
    "RequestRecord",
    "create_emulator_app",
    "run_emulator",
]
