"""Root conftest: load the harness's pytest plugin for scenarios and tests."""
pytest_plugins = ["harness.plugin"]
