"""The declarative search-space language and its compilers.

Declare a space once, in a file or in Python, and run it with Optuna, Keras Tuner
or scikit-learn's GridSearchCV with identical meaning::

    import spaces
    space = spaces.SearchSpace(
        spaces.Int("n_layers", 1, 3),
        spaces.Int("units", 16, 512, log=True, per_layer="n_layers"),
        spaces.Categorical("optimizer", ["adam", "sgd"]),
        spaces.Float("momentum", 0.0, 0.99, when={"optimizer": "sgd"}),
    )
    suggest = spaces.to_optuna(space)          # (trial) -> config
    build = spaces.to_keras_tuner(space)       # (hp) -> config
    grid = spaces.to_param_grid(space)         # [{"model__n_layers": [...], ...}]
"""

from spaces.core._errors import SourceError, SpecError, TuneforgeError, did_you_mean, format_path
from spaces._files import Document, read_document
from spaces._grid import grid_size, grid_values, iter_grid, sub_grids, to_param_grid
from spaces._keras_tuner import declare_keras_tuner, to_keras_tuner
from spaces._middle import middle_config, middle_value
from spaces._optuna import optuna_distribution, to_optuna
from spaces._params import Bool, Categorical, Fixed, Float, Int, Param
from spaces._space import SearchSpace, layer_name, param_from_dict


def load_space(path: str) -> SearchSpace:
    """Read a space from a YAML, JSON or TOML file: either the space itself or a study's ``space:``."""
    doc = read_document(path)
    data = doc.data
    prefix: tuple[str, ...] = ()
    if "space" in data and isinstance(data["space"], dict):
        data, prefix = data["space"], ("space",)
    try:
        return SearchSpace.from_dict(data)
    except TuneforgeError as exc:
        raise exc.located(source=doc.source, line=doc.line_of(prefix + exc.path), prefix=prefix) from None


__all__ = [
    "Bool",
    "Categorical",
    "Document",
    "Fixed",
    "Float",
    "Int",
    "Param",
    "SearchSpace",
    "SourceError",
    "SpecError",
    "TuneforgeError",
    "declare_keras_tuner",
    "did_you_mean",
    "format_path",
    "grid_size",
    "grid_values",
    "iter_grid",
    "layer_name",
    "load_space",
    "middle_config",
    "middle_value",
    "optuna_distribution",
    "param_from_dict",
    "read_document",
    "sub_grids",
    "to_keras_tuner",
    "to_optuna",
    "to_param_grid",
]
