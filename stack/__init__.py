"""The local stack behind ``make run`` and the end-to-end tests: MongoDB, Redis, Ray, Serve.

Production points ``MONGODB_URL`` / ``REDIS_URL`` at real clusters and deploys ``ray_config.yaml``
to a Ray cluster (KubeRay RayService); none of this package runs there.
"""
