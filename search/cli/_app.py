"""The typer application every command module registers on."""

import typer

app = typer.Typer(
    name="tuneforge",
    help="Hyperparameter search for Keras models: one study file, Optuna or Keras Tuner workers, "
    "every trial in MLflow, the best model as a SavedModel.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Hyperparameter search for Keras models. Start with: tuneforge validate studies/*.yaml"""
