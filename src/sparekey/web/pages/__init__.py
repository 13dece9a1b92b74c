"""Server-rendered pages (Japanese and English), over the same use cases as the API."""
