"""Background jobs: a row in `jobs` is the truth; RQ on Redis (or the web process itself) only carries it out."""
