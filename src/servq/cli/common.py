"""What every ``servq`` command shares: the consoles, the common options, the one-line error,
JSON output and who is acting.

Owns: :data:`WorkspaceOpt`, :data:`StoreOpt`, :data:`JsonOpt`, :data:`ByOpt`; :func:`fail`
(``error: …`` on stderr, exit status 2; the message is user text, printed on one line and never
read as console markup); :func:`print_json` (times as ISO text); :func:`who` (``--by``, else
the login name). The command modules import these instead of keeping their own copies.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder [env SERVQ_WORKSPACE; ./servq-data]"),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Application store URL [env SERVQ_APP_DB; SQLite in the workspace], e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who does it [default: your user name]")]


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on one line and return the exit (status 2) to raise."""
    one_line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    err_console.print(f"[bold red]error:[/] {escape(one_line)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout, Chinese as is, times as ISO text."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=_json_value, indent=2) + "\n")


def who(by: str | None) -> str:
    """The acting user: ``--by``, else the login name, else ``cli``."""
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in containers without a passwd entry
        return "cli"
