"""Services: the logic behind each resource (no HTTP knowledge; raise ApiError at most)."""
