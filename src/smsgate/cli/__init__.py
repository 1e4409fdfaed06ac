"""The ``smsgate`` command (also ``python -m smsgate``): one module per command or group.

Exit codes: 0 success; 1 the work was not done (the provider did not take the message, rows
were refused, a check failed, a database was unreachable); 2 bad input or configuration.
What the commands share (the exit codes, ``exit_for``, the settings, the services) is in
``cli/common.py``.
"""

from __future__ import annotations

import typer

from smsgate.cli import db, keys, messages, prices, senders, webhooks
from smsgate.cli.doctor import doctor
from smsgate.cli.send import segments, send
from smsgate.cli.send_bulk import send_bulk
from smsgate.cli.serve import emulator, serve
from smsgate.cli.worker import worker

app = typer.Typer(
    name="smsgate",
    help="Send SMS through Plivo, self-hosted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(prices.app, name="prices", no_args_is_help=True)
app.add_typer(keys.app, name="keys", no_args_is_help=True)
app.add_typer(webhooks.app, name="webhooks", no_args_is_help=True)
app.add_typer(messages.app, name="messages", no_args_is_help=True)
app.add_typer(senders.app, name="senders", no_args_is_help=True)
app.command()(serve)
app.command()(send)
app.command()(worker)
app.command("send-bulk")(send_bulk)
app.command()(doctor)
app.command()(segments)
app.command()(emulator)


def main() -> None:
    app()
