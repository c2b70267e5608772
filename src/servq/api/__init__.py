"""servq's HTTP API (FastAPI): event intake, health and alerts; later the dashboard's data.

Owns: :func:`create_app`. The app opens the application store, runs the monitor loop in its
lifespan and serves ``/api/v1``. ``servq serve`` runs it with uvicorn; any ASGI server can.
OpenAPI at ``/docs`` (served from the package, no CDN) and ``/openapi.json``.
"""

from servq.api.app import create_app

__all__ = ["create_app"]
