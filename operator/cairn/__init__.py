"""Cairn: GitHub Actions workflows as durable Kubernetes resources."""

__version__ = "0.1.0"
