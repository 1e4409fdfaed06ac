"""The command tree (commands, groups, options, arguments, help texts, defaults) is pinned.

``command_tree.json`` is what the users of ``smsgate`` rely on: a change to it is a change of
the interface, made on purpose. Regenerate it with ``UPDATE_COMMAND_TREE=1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer.main
from typer.testing import CliRunner

from smsgate.cli import app

SNAPSHOT = Path(__file__).with_name("command_tree.json")
PARAMETER_FIELDS = (
    "name",
    "param_type_name",
    "opts",
    "secondary_opts",
    "required",
    "nargs",
    "metavar",
    "envvar",
    "help",
    "is_flag",
    "hidden",
    "min",
    "max",
    "show_default",
    "multiple",
)


def plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return repr(value)


def describe_parameter(parameter: Any) -> dict[str, Any]:
    found = {field: plain(getattr(parameter, field, None)) for field in PARAMETER_FIELDS}
    found["default"] = plain(parameter.default)
    found["type"] = repr(parameter.type_descriptor.annotation)
    return found


def describe(command: Any, path: list[str]) -> dict[str, Any]:
    shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    found: dict[str, Any] = {
        "name": command.name,
        "help": command.help,
        "short_help": command.short_help,
        "no_args_is_help": command.no_args_is_help,
        "hidden": command.hidden,
        "params": [describe_parameter(parameter) for parameter in command.params],
        "help_page": shown.output.splitlines(),
        "help_exit_code": shown.exit_code,
    }
    subcommands = getattr(command, "commands", None)  # a group
    if subcommands is not None:
        found["commands"] = {
            name: describe(sub, [*path, name]) for name, sub in sorted(subcommands.items())
        }
    return found


def test_the_command_tree_is_unchanged() -> None:
    tree = describe(typer.main.get_command(app), [])
    if os.environ.get("UPDATE_COMMAND_TREE"):
        SNAPSHOT.write_text(json.dumps(tree, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert tree == json.loads(SNAPSHOT.read_text())
