"""HTML to PDF through a headless Chromium (Debian's `/usr/bin/chromium`), driven by
Playwright, the browser the test suite already drives. Nothing is downloaded: the
browser is the one installed, found at `chromium` (or `--chromium PATH`).

The page is loaded from a temporary file with the network off (the pack is one
self-contained document), and printed with its own `@page` size (A4 landscape).
"""

from __future__ import annotations

import asyncio
import importlib.util
import tempfile
from pathlib import Path

__all__ = ["CHROMIUM", "PdfError", "html_to_pdf"]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class PdfError(Exception):
    """The PDF could not be made: Playwright or Chromium missing, or Chromium failed."""


async def _print(page_uri: str, out: Path, chromium: str) -> None:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=ARGS)
            try:
                context = await browser.new_context(offline=True)
                page = await context.new_page()
                await page.goto(page_uri, wait_until="load")
                await page.pdf(path=str(out), prefer_css_page_size=True, print_background=True)
            finally:
                await browser.close()
    except PlaywrightError as exc:
        raise PdfError(f"Chromium could not print the pack: {str(exc).splitlines()[0]}") from None


def html_to_pdf(html: str, out: Path, chromium: str = CHROMIUM) -> None:
    """Print `html` to the PDF file `out`; raises `PdfError`."""
    if importlib.util.find_spec("playwright") is None:  # a test dependency, optional here
        raise PdfError("--pdf needs Playwright (pip install playwright) and Debian's chromium")
    if not Path(chromium).exists():
        raise PdfError(
            f"--pdf needs Chromium at {chromium} (apt-get install chromium, or --chromium PATH)"
        )
    with tempfile.TemporaryDirectory(prefix="callpop-pdf-") as tmp:
        page_file = Path(tmp) / "pack.html"
        page_file.write_text(html, encoding="utf-8")
        asyncio.run(_print(page_file.as_uri(), out, chromium))
