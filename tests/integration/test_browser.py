"""The status page in a real browser: headless Chromium (Debian's chromium
package) opens the page of a live server with a job running, jobs waiting
and jobs finished; once its script has run the DOM shows them, the elapsed
time ticks, task text stays text, and when the running job ends the page
shows it without a reload."""

import json

import browser
import jqtest

EVIL = "<script>window.pwned=1</script>"
EVIL_IMG = '<img src=x onerror="window.pwned=2">'

STATE = """JSON.stringify({
  marker: window.jqMarker || null,
  pwned: window.pwned || null,
  scripts: document.scripts.length,
  state: document.getElementById('state').textContent,
  waiting: document.getElementById('waiting-count').textContent,
  running: Array.from(document.querySelectorAll('#running tr[data-job]')).map(r => Number(r.dataset.job)),
  elapsed: Array.from(document.querySelectorAll('#running td.elapsed')).map(c => c.textContent),
  next: Array.from(document.querySelectorAll('#next tr[data-job]')).map(r =>
          [Number(r.dataset.job), r.querySelector('td.task').textContent]),
  finished: Array.from(document.querySelectorAll('#finished tr[data-job]')).map(r =>
          [Number(r.dataset.job), r.dataset.result, r.children[4].textContent]),
  bars: Array.from(document.querySelectorAll('#timeline rect.run')).map(r =>
          [Number(r.getAttribute('data-job')), r.getAttribute('class')]),
  depth: !!document.getElementById('depth'),
  imgs: document.images.length
})"""


class BrowserTest(jqtest.ServerTestCase):
    jobqueue = {"authorized_tasks": "*"}

    def setUp(self):
        super().setUp()
        self.browser = browser.Browser()

    def tearDown(self):
        self.browser.close()
        super().tearDown()

    def state(self):
        value = self.browser.eval(STATE)
        return json.loads(value) if value else None

    def wait_page(self, predicate, what):
        return jqtest.wait_for(lambda: (lambda s: s if s and predicate(s) else None)(self.state()),
                               what, interval=0.1)

    def test_live_page(self):
        rpc = self.rpc
        # finished: exit 3, could not start, exit 0
        rpc.submit(["sh", "-c", "exit 3"], 5)
        rpc.submit(["/nonexistent/prog"], 5)
        last = rpc.submit(["true"], 5)["jobnumber"]
        self.assertEqual(rpc.wait(last, 20)["state"], "finished")
        # running: waits on a gate
        gate = self.bots.path("gate")
        holder = rpc.submit(self.job(self.bots.path("events"), "holder", "--wait", gate), 0)["jobnumber"]
        jqtest.wait_for(lambda: self.events(), "holder to start")
        waiting = [rpc.submit(["echo", EVIL], 5)["jobnumber"],
                   rpc.submit(["echo", EVIL_IMG], 3)["jobnumber"],
                   rpc.submit(["echo", "third"], 7)["jobnumber"],
                   rpc.submit(["echo", "L" * 5000], 9)["jobnumber"]]

        self.browser.open("http://127.0.0.1:%d/" % self.bots.port)
        s = self.wait_page(lambda s: s["running"] == [holder] and len(s["next"]) == 4,
                           "the page to show the running and waiting jobs")
        self.browser.eval("window.jqMarker = 42")
        self.assertEqual(s["state"], "launching")
        self.assertEqual(s["waiting"], "4")
        # run order: priority 3, 5, 7, 9; task text shown as text
        self.assertEqual([n for n, _ in s["next"]], [waiting[1], waiting[0], waiting[2], waiting[3]])
        # a long task is cut, with its whole size
        self.assertEqual(s["next"][3][1], "echo " + "L" * 295 + " ... [cut: 5004 bytes, 2 arguments]")

        self.assertEqual(s["next"][1][1], "echo " + EVIL)
        self.assertEqual(s["next"][0][1], "echo " + json.dumps(EVIL_IMG))   # quoted: it holds spaces
        self.assertIsNone(s["pwned"])
        self.assertEqual(s["scripts"], 1)
        self.assertEqual(s["imgs"], 0)
        # The policy allows the page's own script by its hash, not any
        # inline script: one that got in, an inline handler and an inline
        # style are refused (with 'unsafe-inline' they ran).
        self.browser.eval("""window.jqViolations = [];
          document.addEventListener('securitypolicyviolation',
                                    function (e) { window.jqViolations.push(e.effectiveDirective); });
          var s = document.createElement('script');
          s.textContent = 'window.pwned = 3';
          document.body.appendChild(s);
          var d = document.createElement('div');
          d.innerHTML = '<b id="jqinj" onclick="window.pwned = 4" style="color: red">x</b>';
          document.body.appendChild(d);
          document.getElementById('jqinj').click();
          1""")
        seen = jqtest.wait_for(lambda: (lambda v: v if v and len(set(json.loads(v))) >= 3 else None)(
            self.browser.eval("JSON.stringify(window.jqViolations)")), "three CSP violations", interval=0.1)
        self.assertEqual(set(json.loads(seen)), {"script-src-elem", "script-src-attr", "style-src-attr"})
        self.assertIsNone(self.state()["pwned"])
        s = self.state()
        results = {n: (r, text) for n, r, text in s["finished"]}
        self.assertEqual(results[1][0], "failure")
        self.assertEqual(results[1][1], "exit code 3")
        self.assertEqual(results[2][0], "not_started")
        self.assertTrue(results[2][1].startswith("could not start"))
        self.assertEqual(results[3], ("success", "exit code 0"))
        bars = dict(s["bars"])
        self.assertEqual(bars[1], "run failure")
        self.assertEqual(bars[2], "run not_started")
        self.assertEqual(bars[holder], "run running")
        self.assertTrue(s["depth"])
        # the elapsed time ticks on its own
        first = s["elapsed"][0]
        self.wait_page(lambda s: s["elapsed"] and s["elapsed"][0] != first, "the elapsed time to tick")

        # the running job ends; the page follows without a reload
        open(gate, "w").close()
        s = self.wait_page(lambda s: s["running"] == [] and s["waiting"] == "0"
                           and any(n == holder for n, _, _ in s["finished"]),
                           "the page to show the end of the running job")
        self.assertEqual(s["marker"], 42)
        self.assertEqual(s["next"], [])
        self.assertIsNone(s["pwned"])
        self.assertEqual(dict(s["bars"])[holder], "run success")


EVIL_PAGE = """<!doctype html><title>another site</title><script>
const body = "<?xml version='1.0'?><methodCall><methodName>%s</methodName>" +
  "<params><param><value><array><data><value><string>echo</string></value>" +
  "<value><string>csrf</string></value></data></array></value></param>" +
  "<param><value><int>5</int></value></param></params></methodCall>";
const url = "http://127.0.0.1:%d/RPC2";
const form = new URLSearchParams(); form.set("x", body);
Promise.allSettled([
  fetch(url, {method: "POST", mode: "no-cors", body: body}),
  fetch(url, {method: "POST", mode: "no-cors", body: form}),
  fetch(url, {method: "POST", mode: "no-cors", body: new Blob([body])}),
  fetch(url.replace("/RPC2", "/"), {method: "POST", mode: "no-cors", body: body.replace("addjob", "pause")}),
]).then(r => { window.done = r.map(x => x.status); });
</script>"""


class CrossOrigin(jqtest.ServerTestCase):
    """A page of another origin (another port) makes the browser POST to
    the XML-RPC port as it may without asking (text/plain, a form, a
    Blob): nothing is queued, nothing paused; the requests did arrive and
    were refused."""

    jobqueue = {"authorized_tasks": "*"}

    def test_cross_origin_fetch_refused(self):
        import http.server
        import threading
        page = (EVIL_PAGE % ("addjob", self.bots.port)).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass
        evil = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=evil.serve_forever)
        thread.start()
        chromium = browser.Browser()
        try:
            chromium.open("http://127.0.0.1:%d/" % evil.server_address[1])
            jqtest.wait_for(lambda: chromium.eval("window.done"), "the page's requests", interval=0.1)
        finally:
            chromium.close()
            evil.shutdown()
            thread.join()
            evil.server_close()
        status = self.rpc.status()
        self.assertEqual(status["totals"]["added"], 0)
        self.assertFalse(status["paused"])
        metrics = jqtest.http.client.HTTPConnection("127.0.0.1", self.bots.port, timeout=10)
        metrics.request("GET", "/metrics")
        text = metrics.getresponse().read().decode()
        metrics.close()
        refused = [line for line in text.splitlines()
                   if line.startswith('bots_jobqueue_http_requests_refused_total{reason="method"}')]
        self.assertGreaterEqual(int(refused[0].split()[-1]), 4, text)


if __name__ == "__main__":
    jqtest.main()
