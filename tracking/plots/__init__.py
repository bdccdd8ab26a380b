"""Plots and reports for MLflow: the per-study report (``write_study_report``, ``log_study_report``).

Heavy imports (Optuna's visualization, matplotlib, plotly) happen on first use.
"""

from tracking.plots._study import ARTIFACT_PATH, REPORT_FILES, log_study_report, warm_up, write_study_report

__all__ = ["ARTIFACT_PATH", "REPORT_FILES", "log_study_report", "warm_up", "write_study_report"]
