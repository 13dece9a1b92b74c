"""The domain core: no web framework, no SQL."""
