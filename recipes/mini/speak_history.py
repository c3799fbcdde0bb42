"""Where the "make it speak" WER flattens: the held-out WER of each session's default pipeline, next to what its
acoustic stage makes of the *true* first-layer tokens, the codec and the ground truth -> speak_history.png.

    python recipes/mini/speak_history.py

The numbers are the measured rows of recipes/mini/speak_experiments.md (Whisper base, held-out speakers saying
held-out sentences; sessions 1-5 on 36 clips, from session 6 on 102); this script only draws them.
"""
from __future__ import annotations

import argparse

# session -> (TTS WER of the default pipeline, true first-layer tokens + acoustic stage, clips); None = not measured
HISTORY = {
    2: (1.039, 1.164, 36),   # 12.5 Hz codec, tiny LM, NAR (argmax)
    3: (1.007, 0.996, 36),   # 25 Hz codec
    4: (0.897, 0.626, 36),   # 12.3 h of varied text, NAR on the LM's states, soft decoding
    5: (0.527, 0.523, 36),   # small LM, guidance on the text, best of 4 by the token reader
    6: (0.537, 0.511, 102),  # decoder tuned for the NAR; 102 clips from here on
    8: (0.532, 0.509, 102),  # re-run; knobs, pseudo-voices, (9:) test-time adaptation: nothing beyond the noise
    10: (0.467, 0.461, 102),  # the decoder reads the LM's states; best of 16 LM samples
}
CODEC = {36: 0.310, 102: 0.265}          # all 8 layers, the shipped 25 Hz codec
GROUND_TRUTH = {36: 0.237, 102: 0.199}


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ap = argparse.ArgumentParser()
    ap.add_argument("--add", nargs=3, action="append", default=[], metavar=("SESSION", "TTS", "TRUE_TOKENS"),
                    help="one more session's measurement on the 102 clips")
    ap.add_argument("--out", default="recipes/mini/speak_history.png")
    a = ap.parse_args()
    hist = dict(HISTORY)
    for s, t, g in a.add:
        hist[int(s)] = (float(t), float(g), 102)
    xs = sorted(hist)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(xs, [hist[s][0] for s in xs], "o-", label="TTS (the default pipeline)")
    ax.plot(xs, [hist[s][1] for s in xs], "s--", label="true first-layer tokens + acoustic stage")
    for ref, name, style in ((CODEC, "codec, all layers", ":"), (GROUND_TRUTH, "ground truth", "-.")):
        ax.plot(xs, [ref[hist[s][2]] for s in xs], style, color="gray", label=name)
    ax.axhline(0.5, color="red", lw=0.8, label="the issue's bar (0.5)")
    ax.axvline(5.5, color="black", lw=0.5)
    ax.text(5.6, 1.05, "36 → 102 clips", fontsize=8)
    ax.set_xlabel("working session (as numbered in speak_experiments.md)")
    ax.set_ylabel("WER (Whisper base, held-out)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(a.out)


if __name__ == "__main__":
    main()
