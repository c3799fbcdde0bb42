"""The GPU check of the LibriTTS recipe: every stage at the recipe's sizes (conf/12hz: codec 12hz with a w2v-BERT
2.0-shaped teacher, LM base, NAR base), random weights, synthetic data; training steps/s, peak memory, MFU from
counted FLOPs, hours for the recipe's steps; LM tokens/s at 1 and 16 rows, NAR, decoder, end-to-end RTF and time
to first audio. JSON to recipes/bench/gpu_check.json and a generated section in recipes/libritts/README.md.

    python recipes/bench/gpu_check.py                         # one GPU, about 5 minutes
    python recipes/bench/gpu_check.py --dtype bf16,fp32       # both precisions (raise --budget)
    python recipes/bench/gpu_check.py --size tiny --device cpu --out /tmp/g.json   # the CPU smoke test's run

The same as ``dualtts bench --parts gpu``; what each number is: dualtts/bench_gpu.py.
"""
import sys

from dualtts.bench_gpu import main

if __name__ == "__main__":
    sys.exit(main())
