"""Kubernetes API test double for the local test world (see tests/world/README.md)."""
