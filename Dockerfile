# The one image of the docker-compose stack: `tuneforge worker`/`submit`, `mlflow server` and
# `optuna-dashboard` (all three are tuneforge dependencies, see pyproject.toml).
#
#   docker build -t tuneforge .                                              # GPU build (CUDA wheels)
#   docker build -t tuneforge --build-arg TENSORFLOW='tensorflow>=2.16' .    # CPU only, ~3 GB smaller
#
# The GPU build takes CUDA and cuDNN from pip (tensorflow[and-cuda]); the host needs only the NVIDIA
# driver and the NVIDIA Container Toolkit, which `deploy.resources.reservations.devices` uses.
FROM python:3.11-slim-bookworm

ARG TENSORFLOW="tensorflow[and-cuda]>=2.16"
# MLflow with MLFLOW_AUTH_ADMIN_USERNAME/PASSWORD and no built-in admin password (checked on 3.17.2;
# older releases create admin/password1234 when the variables are ignored); the [auth] extra brings
# Flask-WTF, without which `mlflow server --app-name basic-auth` refuses to start.
ARG MLFLOW="mlflow[auth]>=3.17"

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    KERAS_BACKEND=tensorflow

WORKDIR /app
COPY pyproject.toml README.md ./
COPY spaces ./spaces
COPY search ./search
COPY tracking ./tracking
RUN pip install "$TENSORFLOW" "$MLFLOW" . \
    && useradd --create-home --uid 1000 tuneforge
COPY docker ./docker
COPY studies ./studies

USER tuneforge
WORKDIR /home/tuneforge
CMD ["tuneforge", "--help"]
