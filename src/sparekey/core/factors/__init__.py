"""Pure factor mechanics: generate, normalise, verify. No storage, no requests."""
