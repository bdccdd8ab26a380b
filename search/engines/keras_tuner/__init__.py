"""The Keras Tuner engine: RandomSearch, BayesianOptimization and Hyperband oracles.

The run process is Keras Tuner's *chief*: it owns the oracle and serves it over
Keras Tuner's own gRPC service; each worker process is a Keras Tuner *worker* that
asks the chief for trials with a stable tuner id. Every trial is also written to
the study's Optuna storage (the *ledger*), so status, reports, export and MLflow
see Keras Tuner studies exactly as they see Optuna ones.
"""

from search.engines.keras_tuner._chief import Chief, kt_directory
from search.engines.keras_tuner._engine import KerasTunerEngine
from search.engines.keras_tuner._oracle import make_oracle

__all__ = ["Chief", "KerasTunerEngine", "kt_directory", "make_oracle"]
