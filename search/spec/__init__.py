"""The study file: its schema, its rules and loading it with clear errors."""

from search.spec._load import Study, load_study, study_from_dict
from search.spec._models import StudySpec, parse_duration
from search.spec._rules import ACTIVATIONS, OPTIMIZERS, TASK_METRICS

__all__ = ["ACTIVATIONS", "OPTIMIZERS", "TASK_METRICS", "Study", "StudySpec", "load_study", "parse_duration",
           "study_from_dict"]
