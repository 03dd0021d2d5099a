"""Parsed items cross from a parse worker to the main process by pickle, unchanged."""

from __future__ import annotations

import pickle

from monitor.core.observation import ImageItem, PageResult


def test_an_image_item_pickles_to_an_equal_item() -> None:
    full = ImageItem(
        "https://a.test/i.jpg", "https://t.test/t.jpg", "https://p.test/", "T", "p.test"
    )
    bare = ImageItem("https://a.test/j.jpg")
    for item in (full, bare):
        again = pickle.loads(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        assert again == item and type(again) is ImageItem


def test_a_page_result_pickles_with_its_items() -> None:
    page = PageResult((ImageItem("https://a.test/i.jpg", title="名字"),), 7, True, False, 35)
    assert pickle.loads(pickle.dumps(page)) == page
