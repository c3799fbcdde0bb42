"""The ``dualtts`` command line: one command, one subcommand per job.

    dualtts make-corpus --out DIR --speakers N --utterances M [--engines ...] [--holdout K]
    dualtts prepare --corpus DIR --out DIR          (phonemized speaker-disjoint manifests)
    dualtts evaluate --ref DIR_OR_MANIFEST --hyp DIR [--out JSON]
    dualtts phonemize "some text"
    dualtts codec-info | encode | decode | reconstruct | extract-tokens | codec-stats
    dualtts train codec|lm|flow|nar --config YAML [key=value ...]
    dualtts synthesize --text "..." --out out.wav | lm-states | lm-generate | flow-generate
    dualtts demo [--model DIR]                     (the web demo, gradio)
    dualtts serve [--model DIR] [--voices DIR]     (OpenAI-compatible speech server: POST /v1/audio/speech)
    dualtts bench [--quick]                        (codec, LM, acoustic stage and end-to-end speed: JSON + report)
    dualtts download --corpus libritts|libritts-r --subsets ... --out DIR
    dualtts finetune --data DIR_OR_CSV --out DIR    (the default model fine-tuned on your clips: DIR/model)
Each job's commands live in one module of ``dualtts/commands/``.

Errors in the input (bad audio, bad text, missing files) print one line ``error: ...`` and exit
with status 2; no partial output files are left behind.
"""
from __future__ import annotations

import argparse
import sys

from dualtts.data.audio import AudioError
from dualtts.data.checkpoint import resolve_device
from dualtts.data.manifest import ManifestError
from dualtts.data.text import TextError
from dualtts.commands import MODULES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dualtts", description="DualTTS: zero-shot TTS on DualCodec tokens")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for m in MODULES:
        m.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # `train` takes key=value overrides anywhere on the line
        if getattr(args, "command", None) != "train" or any(x.startswith("-") or "=" not in x for x in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides) + extra
    try:
        if getattr(args, "device", None) is not None:  # --device auto|cpu|cuda[:N], resolved once for every command
            args.device = resolve_device(args.device)
        return args.func(args)
    except (AudioError, TextError, ManifestError, OSError, ValueError, KeyError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {' '.join(str(msg).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
