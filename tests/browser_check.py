#!/usr/bin/python3
"""Loads an HTML page in headless Chromium and says what is wrong with it.

  browser_check.py PAGE [SCREENSHOT.png]    exit 0 fine, 1 problems (one per line), 77 no Chromium

A problem is: an image that did not load, a console error or an uncaught
exception (a failed load of an image, a script's console.error, ...), a table
without a row or with nothing in its cells, a script in the page, a reference
to the network, or a link to a file that does not exist beside the page.
Chromium is driven through the DevTools protocol on a pipe
(--remote-debugging-pipe: file descriptors 3 and 4, messages ended by NUL), so
nothing but Debian's chromium and the Python standard library is needed. The
screenshot is of the whole page (PNG). Used by harness_test.py report.
"""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--remote-debugging-pipe", "--window-size=1280,1000", "--hide-scrollbars", "--mute-audio",
                  "--no-first-run", "--no-default-browser-check"]

# runs in the page after it loaded (through the protocol: the page itself has no script)
INSPECT = r"""(() => {
  const text = e => e.textContent.trim();
  return {
    images: [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
    tables: [...document.querySelectorAll('table')].map((t, k) => {
      const head = t.previousElementSibling && /^H[1-6]$/.test(t.previousElementSibling.tagName)
                   ? text(t.previousElementSibling) : 'table ' + (k + 1);
      const body = t.tBodies.length ? [...t.tBodies].flatMap(b => [...b.rows]) : [...t.rows];
      const cells = body.flatMap(r => [...r.cells]).filter(c => text(c) !== '' && text(c) !== '\u2013');
      return {title: head, rows: body.length, filled: cells.length};
    }),
    scripts: document.scripts.length,
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    sources: [...document.querySelectorAll('[src],link[href]')].map(e => e.getAttribute('src') || e.getAttribute('href')),
    height: Math.ceil(document.documentElement.scrollHeight),
    width: Math.ceil(document.documentElement.scrollWidth),
    title: document.title
  };
})()"""


def chromium():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Browser:
    """A headless Chromium and one page, driven over the DevTools pipe."""

    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="daoe-chromium-")
        r_in, self.w = os.pipe()   # our commands -> chromium's fd 3
        self.r, w_out = os.pipe()  # chromium's fd 4 -> us
        # the child's ends at high numbers, moved to 3 and 4 by bash that starts Chromium (dash takes one-digit descriptors only)
        # (the only open descriptors there besides 0-2, so nothing is overwritten)
        hi_in, hi_out = fcntl.fcntl(r_in, fcntl.F_DUPFD, 40), fcntl.fcntl(w_out, fcntl.F_DUPFD, 40)
        os.close(r_in)
        os.close(w_out)
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{hi_in} 4>&{hi_out} {hi_in}<&- {hi_out}>&-', binary, *CHROMIUM_FLAGS,
             f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(hi_in, hi_out))
        os.close(hi_in)
        os.close(hi_out)
        self.buf, self.next_id, self.events, self.session = b"", 0, [], None

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self.r], [], [], max(0.0, deadline - time.time()))
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe (exit {self.proc.poll()})")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, timeout=30, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout=30):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def open(self, url):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def errors(self):
        """console errors, uncaught exceptions and error log entries seen so far"""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console." + p["type"] + ": " + " ".join(str(a.get("value", a.get("description", "")))
                                                                  for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + d.get("exception", {}).get("description", d.get("text", "?")))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                en = p["entry"]
                out.append(f"console error ({en.get('source')}): {en.get('text')} {en.get('url', '')}".rstrip())
        return out


def check_page(page, screenshot=None):
    """The problems of the page (a list of strings; empty: fine) and what the page holds."""
    binary = chromium()
    if not binary:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    page = os.path.abspath(page)
    b = Browser(binary)
    try:
        b.open("file://" + urllib.parse.quote(page))
        time.sleep(0.3)  # late console messages
        info = b.send("Runtime.evaluate", {"expression": INSPECT, "returnByValue": True})["result"]["value"]
        problems = b.errors()
        if screenshot:
            shot = b.send("Page.captureScreenshot",
                          {"format": "png", "captureBeyondViewport": True,
                           "clip": {"x": 0, "y": 0, "width": info["width"], "height": info["height"], "scale": 1}},
                          timeout=60)
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
    finally:
        b.close()
    for im in info["images"]:
        if not im["ok"]:
            problems.append(f"image did not load: {im['src']}")
    for t in info["tables"]:
        if t["rows"] == 0 or t["filled"] == 0:
            problems.append(f"empty table: {t['title']} ({t['rows']} rows, {t['filled']} cells with a value)")
    if info["scripts"]:
        problems.append(f"{info['scripts']} script(s) in the page")
    for u in info["sources"] + info["links"]:
        if urllib.parse.urlparse(u).scheme in ("http", "https") or u.startswith("//"):
            problems.append(f"reference to the network: {u}")
    here = os.path.dirname(page)
    for u in info["links"]:
        if u.startswith("#") or urllib.parse.urlparse(u).scheme:
            continue
        if not os.path.exists(os.path.join(here, urllib.parse.unquote(u.split("#")[0]))):
            problems.append(f"link to a missing file: {u}")
    return problems, info


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    if not chromium():
        print("skip: chromium is not installed (Debian: apt-get install chromium)")
        return 77
    problems, info = check_page(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)
    print(f"{sys.argv[1]}: {len(info['images'])} images, {len(info['tables'])} tables, "
          f"{len(info['links'])} links, page {info['width']}x{info['height']} px")
    for p in problems:
        print("problem:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
