-- Run once by the postgres image on an empty data volume (as POSTGRES_USER, who owns them).
-- POSTGRES_DB (default "tuneforge") holds the Optuna studies and tuneforge's study control table;
-- MLflow keeps its tracking store and its users/permissions in databases of their own
-- (MLflow and Optuna both version their schema in an "alembic_version" table).
CREATE DATABASE mlflow;
CREATE DATABASE mlflow_auth;
