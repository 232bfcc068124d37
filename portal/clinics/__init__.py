"""Pages for clinic admins."""
