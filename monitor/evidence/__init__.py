"""Evidence kept beyond the counts: thumbnails fetched through the shared fetcher and kept
content-addressed (``thumbnails``), decoded and perceptually hashed with Pillow (``phash``).

May import: ``channels`` and everything below it (``store``, ``fetch``, ``config``, ``core``).
"""
