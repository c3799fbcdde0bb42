"""What the command modules share: comma lists, and the one ``--device`` option (resolved once in
:func:`dualtts.cli.main` by :func:`data.checkpoint.resolve_device`)."""
from __future__ import annotations


def csv_list(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def add_device(p) -> None:
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda[:N]")
