"""RQ jobs, thin and split by domain: load by id, call a service, commit (STYLE.md)."""
