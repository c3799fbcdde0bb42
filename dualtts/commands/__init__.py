"""The ``dualtts`` subcommands, one module per job; each has ``add_parsers(sub)``."""
from dualtts.commands import codec, corpus, evaluate, synthesize, train

MODULES = (corpus, codec, train, synthesize, evaluate)
