"""The status page, status.json and /metrics of the real server: contents,
escaping, the cost with many waiting, exact metric values after a scripted
run (and promtool's check), the status-only port, hostile requests."""

import base64
import hashlib
import http.client
import json
import re
import shutil
import socket
import subprocess
import time
import xmlrpc.client

import jqtest


def get(port, path, timeout=jqtest.DEADLINE, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.msg, resp.read()
    finally:
        conn.close()


def metrics(port):
    """The exposition as {'name{labels}': value}."""
    status, headers, body = get(port, "/metrics")
    assert status == 200, status
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


class StatusBase(jqtest.ServerTestCase):
    def setUp(self):
        self.gate = None
        super().setUp()

    def tearDown(self):
        if self.gate:
            open(self.gate, "w").close()
        super().tearDown()

    def hold(self, name="holder"):
        """A job at priority 0 that runs until the gate file exists."""
        self.gate = self.bots.path("gate-" + name)
        answer = self.rpc.submit(self.job(self.bots.path("events"), name, "--wait", self.gate), 0)
        jqtest.wait_for(lambda: any(e[:2] == ["start", name] for e in self.events()), name + " to start")
        return answer["jobnumber"]

    def json(self, path="/status.json"):
        status, headers, body = get(self.bots.port, path)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["Cache-Control"], "no-store")
        return json.loads(body), body


class StatusJson(StatusBase):
    jobqueue = {"authorized_tasks": "*"}

    def test_running_waiting_finished(self):
        self.rpc.submit(["sh", "-c", "exit 3"], 5)
        self.rpc.submit(["/nonexistent/prog"], 5)
        jqtest.wait_for(lambda: self.json()[0]["totals"]["start_failures"] == 1, "the ends")
        holder = self.hold()
        for i in range(3):
            self.assertEqual(self.rpc.submit(["echo", "w%d" % i], 7 - i)["code"], 0)
        data, _ = self.json()
        self.assertEqual([r["jobnumber"] for r in data["running"]], [holder])
        self.assertEqual(data["running"][0]["task"][-3:], ["holder", "--wait", self.gate])
        self.assertEqual(data["waiting"], 3)
        self.assertEqual([w["task"] for w in data["next"]], [["echo", "w2"], ["echo", "w1"], ["echo", "w0"]])
        finished = {f["jobnumber"]: f for f in data["finished"]}
        self.assertEqual(finished[1]["result"], "failure")
        self.assertEqual(finished[1]["exit_code"], 3)
        self.assertEqual(finished[2]["result"], "not_started")
        self.assertIn("/nonexistent/prog", finished[2]["start_error"])
        self.assertNotIn("started", finished[2])
        self.assertEqual([r[0] for r in data["runs"]], [1, 2])
        self.assertEqual(data["depth"][-1][1], 3)
        self.assertFalse(data["paused"])
        self.rpc.pause()
        self.assertTrue(self.json()[0]["paused"])

    def test_task_text_is_escaped(self):
        self.hold()
        evil = "<script>alert(1)</script>"
        self.rpc.submit(["echo", evil, "\"quote\\", "\x7f\t"], 5)
        data, raw = self.json()
        self.assertNotIn(b"<", raw)
        self.assertNotIn(b">", raw)
        self.assertEqual(data["next"][0]["task"], ["echo", evil, "\"quote\\", "\x7f\t"])

    def test_first_100_of_many_in_run_order(self):
        self.hold()
        proxy = self.server.proxy()
        for i in range(250):
            proxy.addjob(["echo", str(i)], i % 7)
        data, _ = self.json()
        self.assertEqual(data["waiting"], 250)
        self.assertEqual(len(data["next"]), 100)
        listed = self.rpc.listjobs()[:100]
        self.assertEqual([w["jobnumber"] for w in data["next"]], [j[1] for j in listed])
        self.assertEqual([w["priority"] for w in data["next"]], [j[0] for j in listed])

    def test_answer_bounded_whatever_the_tasks(self):
        """Tasks of 64 KiB of "<" (6 bytes each in JSON), of 1,024
        arguments, and long start errors: 150 of them made one status.json
        of tens of MB; now each task is cut at 300 characters with its
        whole size, and the answer stays below 1 MiB."""
        big = "<" * 65000
        for i in range(25):          # finished, and could not start
            self.rpc.addjob(["true", "%03d" % i + big[3:]], 5)
            self.rpc.addjob(["/nonexistent/" + "<" * 4000 + "%03d" % i], 5)
        jqtest.wait_for(lambda: self.rpc.status()["totals"]["start_failures"] == 25, "the ends",
                        timeout=60, interval=0.1)
        self.hold()
        for i in range(150):
            self.rpc.addjob(["echo", "%03d" % i + big[3:]], 5)
        self.rpc.addjob(["echo"] + [""] * 1023, 5)
        self.rpc.addjob(["echo"] + ["<"] * 1023, 5)
        data, raw = self.json()
        self.assertLess(len(raw), 1 << 20)
        self.assertEqual(data["waiting"], 152)
        self.assertEqual(len(data["next"]), 100)
        first = data["next"][0]
        self.assertEqual(first["task"][0], "echo")
        self.assertEqual(first["task"][1], "000" + "<" * 292)   # 300 with "echo" and a separator
        self.assertEqual((first["task_bytes"], first["task_arguments"]), (4 + 65000, 2))
        finished = data["finished"]
        self.assertEqual(len(finished), 25)
        for f in finished:
            self.assertLessEqual(len(" ".join(f["task"])), 300, f)
            self.assertIn("task_bytes", f)
            self.assertLessEqual(len(f.get("start_error", "")), 330, f)   # 300 and "... [cut: N bytes]"
        # a task that fits is whole, without the size fields
        self.assertNotIn("task_bytes", data["running"][0])
        self.rpc.clearjobq()
        self.rpc.addjob(["echo"] + [""] * 1023, 5)
        self.rpc.addjob(["echo"] + ["<"] * 1023, 5)
        data, raw = self.json()
        empty, lts = data["next"]
        self.assertEqual(len(empty["task"]), 297)      # "echo", 296 separators
        self.assertEqual(empty["task_arguments"], 1024)
        self.assertEqual(lts["task"], ["echo"] + ["<"] * 148)
        self.assertEqual((lts["task_bytes"], lts["task_arguments"]), (4 + 1023, 1024))

    def test_restart_keeps_the_timeline(self):
        """Runs are seeded from the journal's history at start: after a
        restart the finished jobs and the chart are still there, a long
        task cut as before."""
        a = self.rpc.submit(["sh", "-c", "exit 3", "L" * 5000], 5)["jobnumber"]
        b = self.rpc.submit(["/nonexistent/prog"], 5)["jobnumber"]
        jqtest.wait_for(lambda: len(self.json()[0]["finished"]) == 2, "the ends")
        data, _ = self.json()
        self.server.stop()
        self.server = jqtest.Server(self.bots)
        self.rpc = self.server.proxy()
        again, _ = self.json()
        self.assertEqual(again["finished"], data["finished"])
        self.assertEqual([r[0] for r in again["runs"]], [a, b])
        first = {f["jobnumber"]: f for f in again["finished"]}[a]
        self.assertEqual(first["task"], ["sh", "-c", "exit 3", "L" * (300 - 2 - 1 - 2 - 1 - 6 - 1)])
        self.assertEqual((first["task_bytes"], first["task_arguments"]), (2 + 2 + 6 + 5000, 4))

    def test_page_is_self_contained(self):
        status, headers, body = get(self.bots.port, "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
        page = body.decode()
        self.assertIn("status.json", page)
        # nothing fetched from elsewhere: no src/href to another host; the
        # one link says "no icon", so that browsers do not ask for one
        for marker in ("src=", "@import", "url("):
            self.assertNotIn(marker, page)
        self.assertEqual(re.findall(r"<link[^>]*>", page), ['<link rel="icon" href="data:,">'])
        self.assertEqual(re.findall(r"[a-z]+://[^\"' ]*", page), ["http://www.w3.org/2000/svg"])
        self.assertEqual(get(self.bots.port, "/index.html")[2], body)
        # XML-RPC still answers POST on every path, these included
        for path in ("/", "/metrics", "/status.json"):
            self.assertEqual(self.server.proxy(path).isup(), 0)

    def test_csp_allows_only_the_pages_own_script_and_style(self):
        """'unsafe-inline' allowed any inline script or handler that got
        into the page: the policy names the page's one script and one
        style by their SHA-256, and the page has no inline style or
        handler attribute that would need more."""
        status, headers, body = get(self.bots.port, "/")
        csp = headers["Content-Security-Policy"]
        self.assertNotIn("unsafe", csp)
        page = body.decode()
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        for tag, directive in (("script", "script-src"), ("style", "style-src")):
            blocks = re.findall(r"<%s>(.*?)</%s>" % (tag, tag), page, re.S)
            self.assertEqual(len(blocks), 1, tag)
            digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
            self.assertEqual(directives[directive], "'sha256-%s'" % digest)
        self.assertEqual(directives["default-src"], "'none'")
        self.assertEqual(directives["connect-src"], "'self'")
        markup = re.sub(r"<!--.*?-->|<script>.*?</script>|<style>.*?</style>", "", page, flags=re.S)
        self.assertIsNone(re.search(r"<[^>]*\s(style|on[a-z]+)=", markup))

    def test_favicon_is_not_a_refusal(self):
        """Every browser visit asked for /favicon.ico and was counted as a
        refused request (405 on the main port), firing alerts."""
        before = metrics(self.bots.port)
        for _ in range(3):
            status, headers, body = get(self.bots.port, "/favicon.ico")
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], "image/svg+xml")
            self.assertTrue(body.startswith(b"<svg"))
        after = metrics(self.bots.port)
        refused = {k: v for k, v in after.items() if k.startswith("bots_jobqueue_http_requests_refused_total")}
        self.assertEqual(refused, {k: v for k, v in before.items() if k in refused})
        self.assertEqual(sum(refused.values()), 0)
        self.assertEqual(get(self.bots.port, "/favicon.ico/x")[0], 405)

    def test_hostile_requests(self):
        port = self.bots.port
        # other GET paths are XML-RPC paths: 405 as before
        self.assertEqual(get(port, "/RPC2")[0], 405)
        # a GET that claims a body is refused, not read as the next request
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/status.json", body=b"x" * 10)
        self.assertEqual(conn.getresponse().status, 400)
        conn.close()
        # a huge path or header: Abyss's own limits, the server goes on
        try:
            status = get(port, "/" + "a" * 200000, timeout=10)[0]
            self.assertGreaterEqual(status, 400)
        except (ConnectionError, http.client.HTTPException):
            pass
        # stalled GETs do not lock the page out
        stalled = []
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            stalled.append(s)
        # Locked out, the GET would wait for the server's 10 s read
        # timeout to free a place: it must be answered before that.
        self.assertEqual(get(port, "/status.json?x=<y>", timeout=8)[0], 200)
        for s in stalled:
            s.close()
        # a query string is ignored; the server is intact
        self.assertEqual(get(port, "/metrics?name[]=%00")[0], 200)
        self.assertEqual(self.rpc.isup(), 0)


class Metrics(StatusBase):
    # /etc/passwd: an authorized file that cannot be started (not a program)
    jobqueue = {"authorized_tasks": " ".join([jqtest.PYTHON, jqtest.JOB, "sh", "true", "/etc/passwd"])}

    def test_values_follow_a_scripted_run(self):
        before = metrics(self.bots.port)
        self.assertEqual(before["bots_jobqueue_jobs_started_total"], 0)
        self.hold()                                                 # submit 1: code 0
        self.assertEqual(self.rpc.addjob(["true"], 5), 0)           # 2
        self.assertEqual(self.rpc.addjob(["sh", "-c", "exit 3"], 5), 0)  # 3
        self.assertEqual(self.rpc.addjob(["/etc/passwd"], 5), 0)   # 4
        last = self.rpc.submit(["sh", "-c", "kill -TERM $$"], 5)["jobnumber"]  # 5
        self.assertEqual(self.rpc.addjob(["true"], 5), 4)
        self.assertEqual(self.rpc.submit(["notallowed"], 5), {"code": 3, "jobnumber": 0})
        self.assertEqual(self.rpc.submit([], 5)["code"], 2)
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc.addjob("not a list", 5)
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc.nosuchmethod()
        self.assertEqual(get(self.bots.port, "/RPC2")[0], 405)
        self.assertEqual(jqtest.post(self.bots.port, b"<!DOCTYPE x><methodCall/>")[0], 200)
        m = metrics(self.bots.port)
        self.assertEqual(m["bots_jobqueue_jobs_waiting"], 4)
        self.assertEqual(m["bots_jobqueue_jobs_running"], 1)
        open(self.gate, "w").close()
        self.assertEqual(self.rpc.wait(last, 60)["state"], "finished")
        self.rpc.pause()
        m = metrics(self.bots.port)
        expected = {
            'bots_jobqueue_add_requests_total{code="0"}': 5,
            'bots_jobqueue_add_requests_total{code="2"}': 1,
            'bots_jobqueue_add_requests_total{code="3"}': 1,
            'bots_jobqueue_add_requests_total{code="4"}': 1,
            "bots_jobqueue_jobs_started_total": 4,
            'bots_jobqueue_jobs_finished_total{result="success"}': 2,
            'bots_jobqueue_jobs_finished_total{result="failure"}': 1,
            'bots_jobqueue_jobs_finished_total{result="signal"}': 1,
            'bots_jobqueue_jobs_finished_total{result="not_started"}': 1,
            "bots_jobqueue_jobs_maxruntime_exceeded_total": 0,
            "bots_jobqueue_jobs_waiting": 0,
            "bots_jobqueue_jobs_running": 0,
            "bots_jobqueue_paused": 1,
            "bots_jobqueue_job_duration_seconds_count": 4,
            'bots_jobqueue_job_duration_seconds_bucket{le="+Inf"}': 4,
            # the holder's end, then each end with a job waiting
            "bots_jobqueue_launch_gap_seconds_count": 3,
            'bots_jobqueue_xmlrpc_calls_total{method="submit"}': 4,
            'bots_jobqueue_xmlrpc_calls_total{method="addjob"}': 5,
            'bots_jobqueue_xmlrpc_faults_total{method="addjob"}': 1,
            'bots_jobqueue_xmlrpc_faults_total{method="submit"}': 0,
            'bots_jobqueue_xmlrpc_calls_total{method="wait"}': 1,
            'bots_jobqueue_xmlrpc_calls_total{method="pause"}': 1,
            'bots_jobqueue_xmlrpc_calls_total{method="unknown"}': 2,
            'bots_jobqueue_xmlrpc_faults_total{method="unknown"}': 2,
            'bots_jobqueue_http_requests_refused_total{reason="method"}': 1,
            'bots_jobqueue_http_requests_refused_total{reason="screened"}': 1,
        }
        self.assertEqual({k: m.get(k) for k in expected}, expected)
        commits = m["bots_jobqueue_journal_commit_duration_seconds_count"]
        self.assertGreater(commits, 0)
        # reading writes nothing: scrapes and polls are not commits
        self.json()
        self.assertEqual(metrics(self.bots.port)["bots_jobqueue_journal_commit_duration_seconds_count"], commits)
        self.assertGreater(m["bots_jobqueue_job_duration_seconds_sum"], 0)
        # cumulative buckets
        buckets = [v for k, v in m.items() if k.startswith("bots_jobqueue_job_duration_seconds_bucket")]
        self.assertEqual(buckets, sorted(buckets))
        self.assertAlmostEqual(m["bots_jobqueue_start_time_seconds"], time.time(), delta=60)

    def test_promtool_accepts_it(self):
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool missing: run tools/install-deps (Debian package prometheus)")
        self.hold()
        self.rpc.addjob(["true"], 5)
        with self.assertRaises(xmlrpc.client.Fault):
            self.rpc.nosuchmethod()
        body = get(self.bots.port, "/metrics")[2]
        r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           timeout=jqtest.DEADLINE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, b"")


class StatusPort(StatusBase):
    """[jobqueue] status_listen: page and metrics, never XML-RPC."""

    def setUp(self):
        self.status_port = jqtest.free_port()
        self.jobqueue = {"status_listen": "127.0.0.1:%d" % self.status_port}
        super().setUp()

    def test_serves_page_and_metrics_only(self):
        port = self.status_port
        self.assertEqual(get(port, "/")[0], 200)
        self.assertEqual(get(port, "/metrics")[0], 200)
        self.assertEqual(json.loads(get(port, "/status.json")[2])["waiting"], 0)
        self.assertEqual(get(port, "/RPC2")[0], 404)
        self.assertEqual(get(port, "/favicon.ico")[0], 200)     # not counted as not_found
        body = xmlrpc.client.dumps(((["isup"]), 5), "addjob").encode()
        for path in ("/", "/RPC2", "/metrics"):
            status, reply = jqtest.post(port, body, path=path)
            self.assertEqual(status, 405)
            self.assertNotIn(b"methodResponse", reply)
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1:%d/" % port)
        with self.assertRaises(xmlrpc.client.ProtocolError):
            proxy.addjob(["true"], 5)
        self.assertIn('reason="not_found"} 1', get(port, "/metrics")[2].decode())

    def test_head_as_get_without_body_and_any_host(self):
        """HEAD of a status path: the GET's headers, no body, on both
        ports.  The status-only port is for other hosts: any Host; the
        XML-RPC port refuses a Host that is not this server's."""
        import socket

        def raw(port, request):
            with socket.create_connection(("127.0.0.1", port), jqtest.DEADLINE) as c:
                c.sendall(request)
                c.shutdown(socket.SHUT_WR)
                out = b""
                while True:
                    d = c.recv(65536)
                    if not d:
                        return out
                    out += d
        for port in (self.status_port, self.bots.port):
            for path in ("/", "/status.json", "/metrics"):
                out = raw(port, b"HEAD %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
                head, _, body = out.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), out[:200])
                self.assertRegex(head.lower(), rb"content-length: [1-9]")
                self.assertEqual(body, b"", (port, path))
        out = raw(self.status_port, b"GET /metrics HTTP/1.0\r\nHost: monitor.example.org:9999\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:200])
        out = raw(self.bots.port, b"GET /metrics HTTP/1.0\r\nHost: monitor.example.org:9999\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 403"), out[:200])


class BadStatusListen(jqtest.unittest.TestCase):
    def test_refused_at_start(self):
        for value in ("28083", "localhost:x", "127.0.0.1:0", ":80"):
            bots = jqtest.BotsDir({"status_listen": value})
            try:
                r = subprocess.run([jqtest.SERVER, "-c" + bots.config], capture_output=True, text=True,
                                   timeout=jqtest.DEADLINE)
                self.assertEqual(r.returncode, 1, value)
                self.assertIn("status_listen", r.stderr + bots.log())
            finally:
                bots.cleanup()


if __name__ == "__main__":
    jqtest.main()
