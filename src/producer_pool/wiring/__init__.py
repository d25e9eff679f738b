"""What assembles a service from a config file: the YAML loader, the validated settings,
the dependency-injector containers and the publishers services call (extra `di`)."""
