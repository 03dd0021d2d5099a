"""The words of an evidence bundle: its README and what each file is (the manifest says it
too, so a file's purpose travels with its hash)."""

from __future__ import annotations

VANISHED_FIELDS = [
    "image_url",
    "page_url",
    "thumb_url",
    "title",
    "domain",
    "first_seen",
    "last_seen",
    "still_seen_on",
    "terms",
    "thumbnail_sha256",
    "archived_page",
]

WHAT = {
    "README.txt": "this explanation",
    "alert.json": "the alert as delivered (webhook payload, schema version 2)",
    "evidence.warc.gz": "the engine's answers (request and response records) and the kept "
    "thumbnails (resource records), at their original URLs and fetch times",
    "history.csv": "every check of the person on this source (absence-monitor history)",
    "vanished.csv": "the images that vanished: first and last seen, where each is still seen",
    "SHA256SUMS": "the SHA-256 of each file above, for sha256sum -c",
}

README = """\
Evidence bundle written by absence-monitor. Every file is in a standard format: none
needs the monitor to be read.

What each file is
-----------------
alert.json        The alert as it was delivered to its channels (webhook payload, schema
                  version 2): who, where, how much, the confirming checks, the vanished
                  images and where they are still seen.
evidence.warc.gz  A WARC file (ISO 28500; open it with any WARC tool, e.g. warcio,
                  pywb, ReplayWeb.page). For each response the monitor kept for this
                  alert (the last normal answer before the drop, every confirming check,
                  the first answer after the recovery) a `request` record (the request as
                  sent, secrets masked) and a `response` record (the body byte for byte, at
                  the URL and time it was fetched). The monitor keeps a response's status,
                  content type and body, not its other headers: the header block of a
                  response record holds those two only. X-Absence-Snapshot and
                  X-Absence-Role name the check and why it was kept. Each kept thumbnail of
                  a vanished image is a `resource` record at its original URL.
history.csv       Every check of the person on this source: times, status, counts.
vanished.csv      The vanished images: first and last seen on this source, the other
                  sources still showing each, the SHA-256 of its thumbnail in the WARC,
                  and the Internet Archive's copy of its page where one was confirmed.
SHA256SUMS        The SHA-256 of each file above: `sha256sum -c SHA256SUMS`.
manifest.json     Every file with its SHA-256 and size, the tool version, the vantage (the
                  network location the answers came from), the kept responses and
                  thumbnails with their SHA-256, the snapshot-log entries of the kept
                  responses' checks, the Internet Archive's confirmed copies of the
                  engine's result pages (`archived`), and a seal (the SHA-256 of the rest
                  of the manifest).

How to verify
-------------
1. `absence-monitor evidence verify THIS.zip` checks everything below and names the first
   file or entry that does not match.
2. By hand: `sha256sum -c SHA256SUMS`, and compare each hash with manifest.json.
3. The snapshot log: the monitor chains every check it stores to the one before it. For
   each entry in manifest.json's snapshot_log.entries,
       printf '%s\\n%s' PREVIOUS "$(ENTRY as compact JSON with sorted keys)" | sha256sum
   gives its link; the entry's body_sha256 is the SHA-256 of that check's response body
   in the WARC. The monitor's operator can show the same links in the live database
   (`absence-monitor db verify` recomputes the whole chain), and any later change to
   these checks would have changed every link after them.
"""
