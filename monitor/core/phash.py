"""What "the same photo" means: two 64-bit perceptual hashes (hex) that differ in at most
``PHASH_MAX_DISTANCE`` bits. Pure arithmetic; computing a hash from pixels is
``monitor.evidence.phash``'s job."""

from __future__ import annotations

PHASH_MAX_DISTANCE = 6


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex perceptual hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def same_photo(a: str, b: str, max_distance: int = PHASH_MAX_DISTANCE) -> bool:
    """True when two perceptual hashes are close enough to be the same photo."""
    return hamming(a, b) <= max_distance
