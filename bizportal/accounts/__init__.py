"""Users, roles, agency membership, login and password reset."""
