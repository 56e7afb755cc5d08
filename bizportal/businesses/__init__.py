"""Business profiles, entered once and reused in every application."""
