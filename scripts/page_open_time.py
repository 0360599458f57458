#!/usr/bin/env python3
"""Time opening a page from disk in headless Chromium.

    python scripts/page_open_time.py runs/<id>/report.html [--repeat 5]
        [--click]

Drives ``chromium --headless`` over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: no WebSocket client needed) and prints, per
load, the wall time from the navigation to the load event and to the first
frame drawn after it (the page's script has then built every chart), and the
page's own navigation timing.  ``--click`` then selects, in each scenario,
the first trial that is not shown yet and times until its detail (steps
table) is on the page: the lazy loading of trial detail from the record's
files.  A fresh browser profile per load: nothing is cached.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class Browser:
    def __init__(self, exe: str):
        self.profile = tempfile.mkdtemp(prefix="page-open-")
        r_in, w_in = os.pipe()      # we write commands -> browser's fd 3
        r_out, w_out = os.pipe()    # browser writes replies on fd 4 -> we read
        for fd in (r_in, w_out):    # dup2 onto itself keeps CLOEXEC
            os.set_inheritable(fd, True)
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--allow-file-access-from-files",
             "--user-data-dir=" + self.profile, "--remote-debugging-pipe",
             "about:blank"],
            close_fds=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: (os.dup2(r_in, 3), os.dup2(w_out, 4)))
        os.close(r_in)
        os.close(w_out)
        self.w = os.fdopen(w_in, "wb", buffering=0)
        self.r = os.fdopen(r_out, "rb", buffering=0)
        self.buf = b""
        self.n = 0
        self.events: list[dict] = []

    def _read(self) -> dict:
        while b"\0" not in self.buf:
            chunk = self.r.read(1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed its pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, session: str | None = None, **params):
        self.n += 1
        msg = {"id": self.n, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.w.write(json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.n:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read())
        raise TimeoutError(method)

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def evaluate(b: Browser, session: str, expr: str):
    r = b.send("Runtime.evaluate", session, expression=expr,
               awaitPromise=True, returnByValue=True)
    if "exceptionDetails" in r:
        raise RuntimeError(json.dumps(r["exceptionDetails"])[:500])
    return r["result"].get("value")


# after the load event: wait for the next frame; report navigation timing
AFTER_LOAD = """new Promise(function(res){requestAnimationFrame(function(){
 setTimeout(function(){var n=performance.getEntriesByType('navigation')[0];
 res({frame:performance.now(),dcl:n.domContentLoadedEventEnd,
  load:n.loadEventEnd,bytes:n.transferSize||n.decodedBodySize,
  charts:document.querySelectorAll('.trialview svg').length,
  errors:(window.__errs||[]).length});},0);});})"""

# in each scenario card (scrolled to: cards draw their trials when near
# the window), select a trial not shown yet and time until its detail (the
# steps table) is on the page: the detail is loaded from the record's files
CLICK = """new Promise(function(res){
 var views=Array.prototype.slice.call(document.querySelectorAll('.trialview'));
 var times=[],failed=0;
 function frame(cb){requestAnimationFrame(function(){setTimeout(cb,0);});}
 function next(){var h=views.shift();
  if(!h){times.sort(function(a,b){return a-b;});
   return res({opened:times.length,failed:failed,
    median_ms:times[times.length>>1],max_ms:times[times.length-1]});}
  h.scrollIntoView();frame(function(){frame(function(){
   var s=h.querySelector('select');if(!s||s.options.length<2)return next();
   var t0=performance.now();s.value=s.value==='0'?'1':'0';
   s.dispatchEvent(new Event('change'));
   (function poll(){if(!h.querySelector('.loading')){
     if(h.querySelector('table.steps'))times.push(performance.now()-t0);
     else failed++;next();}
    else if(performance.now()-t0>20000){failed++;next();}
    else setTimeout(poll,2);})();});});}
 next();})"""


def one_load(exe: str, url: str, click: bool) -> dict:
    b = Browser(exe)
    try:
        target = b.send("Target.createTarget", url="about:blank")["targetId"]
        session = b.send("Target.attachToTarget", targetId=target,
                         flatten=True)["sessionId"]
        b.send("Page.enable", session)
        b.send("Runtime.enable", session)
        t0 = time.monotonic()
        b.send("Page.navigate", session, url=url)
        b.wait_event("Page.loadEventFired")
        t_load = time.monotonic() - t0
        page = evaluate(b, session, AFTER_LOAD)
        t_frame = time.monotonic() - t0
        exceptions = [e for e in b.events
                      if e.get("method") == "Runtime.exceptionThrown"]
        out = {"load_s": t_load, "frame_s": t_frame, "page": page,
               "exceptions": len(exceptions)}
        if exceptions:
            out["first_exception"] = json.dumps(
                exceptions[0]["params"])[:400]
        if click:
            out["click"] = evaluate(b, session, CLICK)
        return out
    finally:
        b.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("page")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--click", action="store_true")
    ap.add_argument("--browser", default=None)
    args = ap.parse_args(argv)
    exe = args.browser or next(
        (shutil.which(n) for n in BROWSERS if shutil.which(n)), None)
    if not exe:
        ap.error("no headless browser found (%s)" % ", ".join(BROWSERS))
    url = "file://" + os.path.abspath(args.page)
    print("page %s: %.2f MB" % (args.page,
                                os.path.getsize(args.page) / (1 << 20)))
    runs = []
    for i in range(args.repeat):
        r = one_load(exe, url, args.click)
        runs.append(r)
        print("load %d: load event %.3f s, first frame after it %.3f s; "
              "page: DOMContentLoaded %.0f ms, load %.0f ms, %s chart(s), "
              "%d exception(s)%s" % (
                  i + 1, r["load_s"], r["frame_s"], r["page"]["dcl"],
                  r["page"]["load"], r["page"]["charts"], r["exceptions"],
                  "; trial detail on demand: %s" % json.dumps(r["click"])
                  if "click" in r else ""))
        if r.get("first_exception"):
            print("  " + r["first_exception"])
    for key in ("load_s", "frame_s"):
        vals = [r[key] for r in runs]
        print("%s: median %.3f s, min %.3f s, max %.3f s" % (
            key, statistics.median(vals), min(vals), max(vals)))
    return 1 if any(r["exceptions"] for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
