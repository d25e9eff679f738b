"""`make docs-check`: render the built site in headless Chromium, as a reader would see it.

Builds the site with --strict, serves it on 127.0.0.1, and has Chromium load the home page
and a reference page: every request the pages make (styles, scripts, images) must be
answered from the site, with no 404, and every `<img>` must load. Screenshots are left in
`.docs-check/` to look at; `python -m tests.docs.render_check operations.html` renders
other pages. Needs Debian's `chromium` (`apt-get install chromium`); not part
of `make test`.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from tests.docs.site import ROOT, build

PAGES = ["index.html", "reference/pools.html"]
OUT = ROOT / ".docs-check"
CHROMIUM_FLAGS = [  # what works as root on this machine, with no network but loopback
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1600",
    "--virtual-time-budget=5000",  # let scripts run and images load before the capture
]


class _Recorder(http.server.SimpleHTTPRequestHandler):
    """Serves the site and records each request's path and status."""

    log: list[tuple[str, int]]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log.append((urlsplit(self.path).path, int(code) if str(code).isdigit() else 0))

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def chromium(user_data: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        sys.exit("docs-check: Chromium is missing: apt-get install chromium")
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={user_data}", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def check(site: Path, work: Path, pages: list[str]) -> list[str]:
    """The problems found rendering `pages` from `site`; empty when all is well."""
    handler = type("Handler", (_Recorder,), {"log": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems = []
    OUT.mkdir(exist_ok=True)
    try:
        for page in pages:
            url = urljoin(base, page)
            handler.log.clear()
            shot = OUT / (page.replace("/", "-").removesuffix(".html") + ".png")
            chromium(work / "profile", f"--screenshot={shot}", url)
            dom = chromium(work / "profile", "--dump-dom", url).stdout
            if not shot.exists() or shot.stat().st_size < 10_000:
                problems.append(f"{page}: no screenshot, or a blank one")
            failed = sorted({f"{path} ({status})" for path, status in handler.log if status >= 400})
            problems += [f"{page}: {request}" for request in failed]
            images = _Images()
            images.feed(dom)
            served = {path for path, status in handler.log if status == 200}
            for source in images.sources:
                where = urlsplit(urljoin(url, source))
                if f"{where.scheme}://{where.netloc}/" != base:
                    problems.append(f"{page}: image {source} is not served by the site")
                elif where.path not in served:
                    problems.append(f"{page}: image {source} did not load")
            print(
                f"docs-check: {page}: {len(handler.log)} requests, {len(images.sources)}"
                f" images, screenshot {shot.relative_to(ROOT)}"
            )
    finally:
        server.shutdown()
        server.server_close()
    return problems


def main(pages: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="docs-check-") as work:
        site = Path(work) / "site"
        built = build(site)
        if built.returncode != 0:
            print(built.stderr, file=sys.stderr)
            return 1
        problems = check(site, Path(work), pages or PAGES)
    for problem in problems:
        print(f"docs-check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))  # pages to render instead of PAGES, e.g. operations.html
