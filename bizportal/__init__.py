"""bizportal: an open-source one-stop portal for business licences.

Kept nearly empty on purpose: importing `bizportal.workflow` (the pure permit
language and engine) must not load Flask or the database. The web application
is built by `bizportal.app.create_app`.
"""

__version__ = "0.1.0"
