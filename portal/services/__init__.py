"""Every query and transaction of the portal. Views and the API call these; nothing else writes."""
