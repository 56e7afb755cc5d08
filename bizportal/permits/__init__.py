"""Agencies and the permit catalogue: stored, immutable spec versions and their public pages."""
