"""What `make tracking-server` adds to PostgreSQL and MLflow for a team: secrets, members and their roles, TLS."""


class SetupError(Exception):
    """A situation the user must fix, told in one line."""
