"""The acceptance check, in a real browser: after a study, ``tuneforge ui`` shows its trial runs and artifacts.

Headless Debian Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it) driven by Playwright,
which only drives it: no ``playwright install``, no browser build of its own. Everything asserted
is read from the page MLflow's React app rendered, not from the REST API.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import optuna
import pytest

from search.storage import get_storage
from tests._mlflow import study_runs
from tests._studies import write_study
from tests.conftest import run_cli
from tests.test_ui import assert_all_gone, local_env, start_ui

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_SECONDS = 180  # a cold single-page app on a busy 2-core machine


def chromium_or_skip() -> str:
    """Debian's Chromium and Playwright, or skip (fail in CI, where ``.ci/run`` installs Chromium)."""
    problem = None
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if path is None:
        problem = f"no Chromium at {CHROMIUM}"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright is not installed (pip install -e '.[test]')"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}: .ci/run installs Debian's chromium (as root) and bootstrap.py the test extra")
        pytest.skip(f"{problem} (.ci/run installs it: apt-get install chromium)")
    return path  # type: ignore[return-value]


def wait_text(page, text: str, seconds: float = PAGE_SECONDS):
    """Poll the rendered DOM until ``text`` is visible (the app fetches and renders asynchronously)."""
    locator = page.get_by_text(text, exact=True).first
    locator.wait_for(state="visible", timeout=seconds * 1000)
    return locator


def test_the_ui_lists_the_trials_and_the_best_trials_artifacts(tmp_path):
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    name = "browser"
    path = write_study(tmp_path, name, search={"trials": 3, "workers": 2},
                       fixed={"epochs": 2, "batch_size": 64, "patience": 0})
    result = run_cli("run", str(path), "--no-export", cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 0, result.stderr[-3000:]

    runs = study_runs(f"sqlite:///{tmp_path / '.tuneforge' / 'mlflow.db'}", name)
    assert sorted(runs.trials) == [0, 1, 2]
    best_number = optuna.load_study(study_name=name, storage=get_storage(
        f"journal:{tmp_path / '.tuneforge' / 'optuna.journal'}")).best_trial.number
    best = runs.trials[best_number]
    assert "learning_curve.png" in {a.path for a in runs.client.list_artifacts(best.info.run_id)}
    experiment_id = best.info.experiment_id

    ui = start_ui(tmp_path, str(path))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        mlflow_url = ui.read_until(r"^MLflow UI: +(\S+)$").group(1)
        dashboard_url = ui.read_until(r"^Optuna dashboard: +(\S+)$").group(1)
        assert f"/#/experiments/{experiment_id}" in mlflow_url
        base = mlflow_url.split("/#/")[0]

        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
                args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 900})
            try:
                page = context.new_page()
                page.set_default_timeout(PAGE_SECONDS * 1000)

                # the experiment page: the study's parent run, its trial runs nested under it
                page.goto(mlflow_url)
                parent_row = page.locator(".ag-row", has_text=name).first
                parent_row.wait_for(state="visible")
                page.screenshot(path=str(shots / "experiment.png"))
                trial_names = [f"trial-{n:04d}" for n in sorted(runs.trials)]
                if not page.get_by_text(trial_names[0], exact=True).is_visible():
                    parent_row.locator("button").first.click()  # expand the nested trial runs, as a user does
                for trial in trial_names:
                    wait_text(page, trial)
                page.screenshot(path=str(shots / "experiment-trials.png"))
                rows = page.locator(".ag-row").all_inner_texts()
                for trial in trial_names:
                    assert any(trial in row for row in rows), (trial, rows)

                # the best trial's run page, its Artifacts tab
                best_name = f"trial-{best_number:04d}"
                page.goto(f"{base}/#/experiments/{experiment_id}/runs/{best.info.run_id}"
                          "?workflowType=machine_learning")
                wait_text(page, best_name)
                page.screenshot(path=str(shots / "best-run.png"))
                page.get_by_role("tab", name="Artifacts").click()
                artifact = wait_text(page, "learning_curve.png")
                artifact.click()  # the preview: MLflow fetches the PNG from the run's file:// artifact root
                page.locator("img[src*='learning_curve.png'], img[src^='blob:']").first.wait_for(state="visible")
                page.screenshot(path=str(shots / "best-run-artifacts.png"))
                assert page.get_by_text("learning_curve.png", exact=True).first.is_visible()

                # Optuna's dashboard on the same study
                page.goto(dashboard_url)
                page.get_by_text(re.compile(rf"^{name} \(id=\d+\)$")).first.wait_for(state="visible")
                page.get_by_text(f"Best Trial (number={best_number})").first.wait_for(state="visible")
                page.screenshot(path=str(shots / "dashboard.png"))
            finally:
                context.close()
    finally:
        servers = ui.server_pids() if ui.proc.poll() is None else []
        code = ui.stop(signal.SIGINT) if ui.proc.poll() is None else ui.proc.returncode
        print(f"screenshots in {shots}")
    assert code == 130
    assert_all_gone(servers)
