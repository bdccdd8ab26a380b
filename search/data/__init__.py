"""Datasets: named (bundled or downloaded) and files, split and preprocessed."""
