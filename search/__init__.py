"""tuneforge's search: studies, data, models, the trainer, engines, workers, compare and the CLI.

A regular package (not a namespace one), so an import of ``search`` resolves to exactly one tree.
"""
