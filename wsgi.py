"""The WSGI entry point: gunicorn wsgi:app, and what `flask` finds on its own."""

import gc

from portal import create_app
from portal.templating import compile_templates

app = create_app()
compile_templates(app)

# The app's ~150,000 objects made at start-up (SQLAlchemy's mappers, pydantic's validators, the
# compiled templates) live as long as the process: frozen, the garbage collector never scans them
# again. A full collection over them took 84 ms of CPU here, a pause in the middle of a request.
# Under gunicorn's preload_app (deploy/gunicorn.conf.py) this runs once, in the master, and the
# frozen objects stay shared with every forked worker: no collection writes to their pages.
gc.freeze()
