"""Bare extension instances; create_app binds them to the application."""

from flask_caching import Cache
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_session import Session
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

from portal.database import PortalSession

# Explicit constraint names, so migrations and downgrades are predictable on every backend.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# expire_on_commit=False: a view that commits and then renders the rows it wrote should not
# reload each of them. PortalSession: a @read_only view's reads run without a transaction.
db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING),
    session_options={"expire_on_commit": False, "class_": PortalSession},
)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
cache = Cache()
server_session = Session()
limiter = Limiter(key_func=get_remote_address)
