"""The ``dualtts`` subcommands, one module per job; each has ``add_parsers(sub)``."""
from dualtts.commands import bench, codec, corpus, demo, evaluate, finetune, serve, synthesize, train

MODULES = (corpus, codec, train, synthesize, evaluate, demo, serve, finetune, bench)
