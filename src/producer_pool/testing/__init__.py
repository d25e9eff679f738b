"""Tools for tests (ours and our users'): the embedded broker, the outage relay and the
pytest plugin. Services never import this package."""
