"""Recipes for the frameworks that run a service's code: each module imports its framework
and says which extra to install when it is missing."""
