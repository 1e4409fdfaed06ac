"""The HTTP API: FastAPI routes, error answers and the small page at /."""
