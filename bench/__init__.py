"""The benchmark harness of airflow-provider-codex (issue #6): ``python bench/run.py [--quick]``."""
