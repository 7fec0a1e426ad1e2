"""The web player and the API reference page, served from ``web/dist/`` (built by ``make web``)."""
