"""The HTTP contract of the streaming service: wire types, errors, routes and domain services.

Nothing in this package imports Ray: the Serve deployments in ``deployments/`` adapt it, and the
unit tests drive it directly.
"""
