"""Renderers of an ``AuditReport``: streamed JSON (``jsonout``) and one HTML page (``html``)."""
