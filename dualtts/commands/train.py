"""``dualtts train codec|lm|flow|nar|reader|decoder --config YAML [key=value ...]``: every stage on the one training loop."""
from __future__ import annotations

import importlib
import json

from dualtts.training.loop import Trainer


# stage -> (module, task class, config loader)
STAGES = {"codec": ("dualtts.codec.train", "CodecTask", "load_train_config"),
          "lm": ("dualtts.lm.train", "LMTask", "load_lm_train_config"),
          "flow": ("dualtts.flow.train", "FlowTask", "load_flow_train_config"),
          "nar": ("dualtts.flow.nar_train", "NARTask", "load_nar_train_config"),
          "reader": ("dualtts.lm.reader_train", "ReaderTask", "load_reader_train_config"),
          "decoder": ("dualtts.flow.decoder_train", "DecoderTask", "load_decoder_train_config")}


def cmd_train(a) -> int:
    mod, task_cls, loader = STAGES[a.stage]
    mod = importlib.import_module(mod)
    cfg = getattr(mod, loader)(a.config, a.overrides)
    trainer = Trainer(cfg.train, getattr(mod, task_cls)(cfg))
    result = trainer.fit(resume=not a.no_resume)
    last = result["history"][-1] if result["history"] else {}
    print(json.dumps({"step": result["step"], "out_dir": cfg.train.out_dir, **{k: round(v, 4) for k, v in last.items() if k != "step"}}))
    return 0


def add_parsers(sub) -> None:
    t = sub.add_parser("train", help="train a stage: dualtts train codec|lm|flow|nar|reader|decoder --config YAML [section.key=value ...]")
    t.add_argument("stage", choices=list(STAGES))
    t.add_argument("--config", help="YAML with the training settings (see recipes/mini/codec.yaml)")
    t.add_argument("--no-resume", action="store_true", help="start over even if out_dir has checkpoints")
    t.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.max_steps=100 batch_size=4")
    t.set_defaults(func=cmd_train)
