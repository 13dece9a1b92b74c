"""The web layer: JSON API and server-rendered pages over the same use cases."""
