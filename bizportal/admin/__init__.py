"""The admin console: agencies and users, publishing permit types, version history and route diagrams."""
