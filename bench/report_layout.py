"""Where things are in a written report, as a reader's browser lays it out: prints, for
each report file, its size, the page height, how far down each section of the first person
starts, the gallery entries per person and the date labels of the first chart.

    python -m bench.report_layout OLD.html NEW.html

Needs Debian's ``chromium``; drives it with the tests' DevTools helper
(``tests/helpers/browser.py``: one driver, not two). Opens local files only.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

from tests.helpers.browser import CHROMIUM, Browser

LAYOUT = """(() => {
  const top = e => Math.round(e.getBoundingClientRect().top + window.scrollY);
  const sections = Array.from(document.querySelectorAll('section.person'));
  const chart = document.querySelector('svg.chart');
  return {
    height: document.documentElement.scrollHeight,
    first_person: Array.from(sections[0].querySelectorAll(':scope > h3'))
      .map(h => [h.textContent, top(h)]),
    gallery_entries: sections.map(s => [s.querySelector('h2').textContent,
                                        s.querySelectorAll('.gallery li').length]),
    chart_labels: chart ? Array.from(chart.querySelectorAll('text')).map(t => t.textContent) : [],
  };
})()"""
DATE = re.compile(r"^(\d{4}-)?\d{2}-\d{2}")


def main(paths: list[str]) -> int:
    if CHROMIUM is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    browser = Browser(CHROMIUM, Path(tempfile.mkdtemp(prefix="report-layout-")))
    try:
        for name in paths:
            path = Path(name)
            found = browser.open(path.resolve().as_uri()).eval(LAYOUT)
            dates = [t for t in found.pop("chart_labels") if DATE.match(t)]
            print(f"{path}: {path.stat().st_size:,} bytes, page {found['height']:,} px high")
            for heading, y in found["first_person"]:
                print(f"  {y:>6,} px  {heading}")
            print(f"  gallery entries per person: {json.dumps(found['gallery_entries'])}")
            print(f"  date labels on the first chart: {len(dates)} {dates}")
    finally:
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
