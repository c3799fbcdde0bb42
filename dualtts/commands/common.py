"""What the command modules share: comma lists, the one ``--device`` option (resolved once in
:func:`dualtts.cli.main` by :func:`data.checkpoint.resolve_device`), and the one ``--tokenizer`` option
(``--codec`` is the same option) with its default, the shipped model's codec."""
from __future__ import annotations

from dualtts.codec.tokenizer import load_tokenizer, tokenizer_spec  # noqa: F401  (tokenizer_spec: for the command modules)
from dualtts.model_path import DefaultModelNotFound, default_model_dir


def default_codec() -> str | None:
    """The default model's codec (None when no default model is found: then --tokenizer is needed)."""
    try:
        return f"dualcodec:{default_model_dir() / 'codec'}"
    except DefaultModelNotFound:
        return None


def csv_list(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def add_device(p) -> None:
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda[:N]")


def add_tokenizer(p, required: bool = False, what: str = "") -> None:
    """``--tokenizer`` / ``--codec``: dualcodec:PATH (or just PATH; ``amphion/dualcodec:12hz`` | ``:25hz``: the official
    weights), mimi:ID, encodec:ID."""
    p.add_argument("--tokenizer", "--codec", dest="tokenizer", required=required, default=None if required else default_codec(),
                   help=f"dualcodec:PATH (or PATH; amphion/dualcodec:12hz|25hz: the official weights) | mimi:ID | encodec:ID{what}"
                   + ("" if required else "; default: the shipped model's codec"))



def open_tokenizer(spec: str, device):
    return load_tokenizer(tokenizer_spec(spec), device)
