"""``dualtts finetune --data DIR_OR_CSV --out DIR``: the default voice model fine-tuned on your own clips."""
from __future__ import annotations

import json

from dualtts.commands.common import add_device


def cmd_finetune(a) -> int:
    from dualtts.finetune import finetune

    summary = finetune(a.data, a.out, base=a.base, steps=a.steps, flow_steps=a.flow_steps, lr=a.lr,
                       batch_size=a.batch_size, device=a.device, language=a.language)
    print(json.dumps(summary))
    return 0


def add_parsers(sub) -> None:
    f = sub.add_parser("finetune", help="fine-tune the default model on your own clips (wav + txt pairs, or a CSV) "
                                        "into OUT/model, for synthesize --model OUT/model")
    f.add_argument("--data", required=True, help="folder of clip.wav + clip.txt pairs (per-speaker subfolders allowed), "
                                                "or a CSV/PSV file of path|text[|speaker] rows (paths relative to it)")
    f.add_argument("--out", required=True, help="work folder; rerunning the same command continues where it stopped")
    f.add_argument("--base", default=None, help="model folder to start from (codec/ lm/ flow/); default: the shipped model")
    f.add_argument("--steps", type=int, default=300, help="training steps of the LM (and of the acoustic stage)")
    f.add_argument("--flow-steps", type=int, default=None, help="training steps of the acoustic stage (default: --steps)")
    f.add_argument("--lr", type=float, default=2e-4, help="peak learning rate of both stages")
    f.add_argument("--batch-size", type=int, default=8)
    f.add_argument("--language", default="en-us", help="espeak-ng language of the transcripts")
    add_device(f)
    f.set_defaults(func=cmd_finetune)
