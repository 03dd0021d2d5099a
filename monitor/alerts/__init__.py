"""What an alert is and says: the versioned payload schema (``payload``), the one mapping
from a detector event to it (``events``), and its subject, text and HTML (``render``).

Pure, no I/O. May import: ``detector`` (the event it describes) and ``core``.
"""
