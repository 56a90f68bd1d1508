"""The web service: REST API (/api/v1, OpenAPI at /docs), CDS Hooks (/cds-services) and the web app."""

from rplnav.service.app import create_app

__all__ = ["create_app"]
