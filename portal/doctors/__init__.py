"""Pages for doctors."""
