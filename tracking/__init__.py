"""MLflow logging, plots, model export and registry."""
