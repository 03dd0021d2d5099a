"""What an alert is and says: the versioned payload schema and its validator (``schema``),
building a payload and the message a channel sends (``payload``), the one mapping from a
detector event to a payload (``events``), and its words: sections and subject (``content``),
text and HTML bodies (``render``).

Pure, no I/O. May import: ``detector`` (the event it describes) and ``core``.
"""
