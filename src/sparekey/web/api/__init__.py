"""JSON API v1 (see shared API.md): thin adapters from HTTP to the use cases."""
