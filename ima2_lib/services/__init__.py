"""Services: the logic behind the routes (no HTTP knowledge; ``ApiError`` at most)."""
