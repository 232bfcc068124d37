"""RQ's connection settings, read from the portal's own: `rq worker -c jobs.rq_settings`.

The worker and the cron process then reach Redis exactly as the web app does: REDIS_URL, or
with REDIS_SENTINELS the master the Sentinels name (RQ builds a Sentinel client from the
SENTINEL dict below and asks again after a failover). Only the environment is read here.
The jobs themselves run in an app built by create_app (jobs.app), whose client comes from
portal.redis_client too.
"""

import os

from portal.config import config_for
from portal.redis_client import redis_configured, rq_settings

_config = config_for(os.environ.get("PORTAL_ENV"))
_values = {name: getattr(_config, name) for name in dir(_config) if name.isupper()}
if not redis_configured(_values):  # RQ would quietly fall back to localhost:6379
    raise RuntimeError("jobs.rq_settings: set REDIS_URL or REDIS_SENTINELS for the workers")
_settings = rq_settings(_values)
REDIS_URL = _settings.get("REDIS_URL")
SENTINEL = _settings.get("SENTINEL")
