"""Sign-up, sign-in, sign-out, and who may do what."""
