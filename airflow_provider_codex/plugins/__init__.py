"""The Codex view in the Airflow UI: an Airflow plugin the provider registers (``get_provider_info``)."""
