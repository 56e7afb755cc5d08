"""Webhooks: signed HTTP callbacks to other systems when applications and licences change (docs/webhooks.md)."""
