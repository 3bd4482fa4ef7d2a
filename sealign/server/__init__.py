"""Human feedback: the rater queue (stdlib SQLite) and the web app that serves it (FastAPI, optional)."""
