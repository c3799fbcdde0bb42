"""Training speed of the two acoustic streams on this machine: generator steps/s (mel + semantic + VQ losses,
forward + backward + AdamW) and with the discriminators, tiny presets, batch 8 x 0.96 s, 2 threads.

    python recipes/bench/codec_train_speed.py --json recipes/bench/codec_train_speed.json
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from dualtts.codec.discriminators import Discriminator
from dualtts.codec.losses import MultiScaleMelLoss, discriminator_loss, feature_matching_loss, generator_adv_loss
from dualtts.codec.model import DualCodec
from dualtts.codec.train import model_config


def steps_per_second(preset: str, gan: bool, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = DualCodec(model_config(preset)).train()
    d = Discriminator(channels=8) if gan else None
    mel = MultiScaleMelLoss()
    opt_g = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], 1e-4)
    opt_d = torch.optim.AdamW(d.parameters(), 1e-4) if d else None
    x = torch.randn(8, 1, 23040) * 0.1

    def step():
        out = m(x)
        if d:
            opt_d.zero_grad()
            discriminator_loss(d(x), d(out["audio"].detach())).backward()
            opt_d.step()
        loss = 15 * mel(out["audio"], x) + 15 * out["semantic_loss"] + out["codebook_loss"] + 0.25 * out["commitment_loss"]
        if d:
            r, f = d(x), d(out["audio"])
            loss = loss + generator_adv_loss(f) + 2 * feature_matching_loss(r, f)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    res = {p: {"mel_only_steps_per_s": round(steps_per_second(p, False, a.steps, a.threads), 3),
               "gan_steps_per_s": round(steps_per_second(p, True, max(2, a.steps // 3), a.threads), 3)}
           for p in ("tiny-12hz", "tiny-12hz-dac")}
    res["setup"] = {"batch": "8 x 0.96 s", "threads": a.threads, "teacher": "Whisper base (ct2)", "disc_channels": 8}
    from dualtts.data.atomic import write_text_atomic

    write_text_atomic(a.json, json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
