"""Media: a small pool of really encrypted demo clips, and the origin that serves them.

Every demo asset maps onto one pool clip (a stable hash), so 100,000 titles need only a handful
of packaged files. Production would package each asset and put the origin behind a CDN.
"""
