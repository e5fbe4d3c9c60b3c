"""PROTOCOL section 2 and 6 against the real server, spoken to exactly as
Bots and its users' scripts speak: Python 3's xmlrpc.client (HTTP/1.1,
keep-alive) and Python 2's xmlrpclib (HTTP/1.0), the latter replayed over
a raw socket."""

import http.client
import os
import socket
import xmlrpc.client

import jqtest


class Protocol(jqtest.ServerTestCase):

    def hold(self):
        """Queues a job that runs until the gate file exists, so that
        everything queued after it stays waiting."""
        self.gate = self.bots.path("gate")
        self.assertEqual(self.rpc.addjob(self.job(self.bots.path("events"), "holder", "--wait", self.gate), 5), 0)
        jqtest.wait_for(lambda: self.events(), "holder to start")

    def release(self):
        open(self.gate, "w").close()

    def test_addjob_listjobs_order(self):
        self.hold()
        # job 1 is the holder; these are 2..6
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cconfig"], 5), 0)
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cconfig2"], 9), 0)
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cconfig3"], 1), 0)
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cconfig4"], 5), 0)
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cconfig5"], 1), 0)
        self.assertEqual(self.rpc.listjobs(), [
            [1, 4, ["bots-engine", "-cconfig3"]],
            [1, 6, ["bots-engine", "-cconfig5"]],
            [5, 2, ["bots-engine", "-cconfig"]],
            [5, 5, ["bots-engine", "-cconfig4"]],
            [9, 3, ["bots-engine", "-cconfig2"]],
        ])
        self.assertEqual(self.rpc.clearjobq(), 0)
        self.release()

    def test_listjobs_empty_is_zero(self):
        self.assertEqual(self.rpc.listjobs(), 0)

    def test_duplicates(self):
        self.hold()
        task = ["bots-engine", "-cconfig", "--new"]
        self.assertEqual(self.rpc.addjob(task, 5), 0)
        self.assertEqual(self.rpc.addjob(task, 5), 4)
        self.assertEqual(self.rpc.addjob(task, 2), 0)
        self.assertEqual(self.rpc.listjobs(), [[2, 2, task]])
        # element by element: a differently split argv is another task
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cconfig --new"], 2), 0)
        self.assertEqual(len(self.rpc.listjobs()), 2)
        log = self.bots.wait_log("Duplicate job, changed priority to 2: ['bots-engine', '-cconfig', '--new']")
        self.assertIn("Duplicate job not added: ['bots-engine', '-cconfig', '--new']", self.bots.log())
        self.assertIn("Added job 2, priority 5: ['bots-engine', '-cconfig', '--new']", self.bots.log())
        self.rpc.clearjobq()
        self.release()

    def test_running_job_is_not_a_duplicate(self):
        self.hold()
        holder = self.job(self.bots.path("events"), "holder", "--wait", self.gate)
        self.assertEqual(self.rpc.addjob(holder, 5), 0)
        self.assertEqual(self.rpc.listjobs(), [[5, 2, holder]])
        self.release()
        self.bots.wait_log("Finished job 2")

    def test_empty_and_isup(self):
        # The version of Bots is unknown here: addjob answers Bots 4's
        # codes, as submit() does (issue 20: it answered 0, "added").
        self.assertEqual(self.rpc.addjob([], 5), 2)
        self.assertEqual(self.rpc.submit([], 5)["code"], 2)
        self.assertEqual(self.rpc.addjob(["isup"], 5), 0)
        self.assertEqual(self.rpc.listjobs(), 0)
        self.assertEqual(self.rpc.isup(), 0)
        self.assertNotIn("isup", self.bots.log())

    def test_not_authorized(self):
        self.assertEqual(self.rpc.submit(["rm", "-rf", "/"], 5)["code"], 3)
        self.assertEqual(self.rpc.submit(["/tmp/bots-engine"], 5)["code"], 3)
        self.assertEqual(self.rpc.submit(["sh", "-c", "id"], 5)["code"], 3)
        self.assertEqual(self.rpc.addjob(["sh", "-c", "id"], 5), 3)
        self.assertEqual(self.rpc.listjobs(), 0)
        self.bots.wait_log("Task not authorized, not added: ['rm', '-rf', '/'] ('rm' is neither")

    def test_authorized_forms(self):
        self.hold()
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cconfig"], 5), 0)
        self.assertEqual(self.rpc.addjob(["bots-engine.py", "-cconfig"], 5), 0)
        self.assertEqual(self.rpc.addjob(["python3", os.path.join(self.bots.bin, "bots-engine.py"), "-cx"], 5), 0)
        self.assertEqual(self.rpc.addjob([jqtest.PYTHON, os.path.join(self.bots.bin, "bots-engine"), "-cx"], 5), 0)
        self.assertEqual(len(self.rpc.listjobs()), 4)
        self.rpc.clearjobq()
        self.release()

    def test_getjob(self):
        self.hold()
        self.assertEqual(self.rpc.getjob(), 0)
        self.rpc.addjob(["bots-engine", "-ca"], 7)
        self.rpc.addjob(["bots-engine", "-cb"], 3)
        self.assertEqual(self.rpc.getjob(), [3, 3, ["bots-engine", "-cb"]])
        self.assertEqual(self.rpc.listjobs(), [[7, 2, ["bots-engine", "-ca"]]])
        # a job taken by getjob is the caller's: it is not a duplicate any more
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cb"], 3), 0)
        self.rpc.clearjobq()
        self.release()

    def test_clearjobq_keeps_running_job(self):
        self.hold()
        self.rpc.addjob(["bots-engine", "-ca"], 5)
        self.assertEqual(self.rpc.clearjobq(), 0)
        self.assertEqual(self.rpc.listjobs(), 0)
        self.bots.wait_log("Job queue cleared.")
        self.release()
        self.bots.wait_log("Finished job 1")
        # numbers go on after a clear
        self.hold()
        self.assertIn("Starting job 3", self.bots.log())
        self.release()

    def test_any_path(self):
        for path in ("/", "/RPC2", "/anything/else"):
            self.assertEqual(self.server.proxy(path).listjobs(), 0, path)

    def test_keepalive_many_calls_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.bots.port)
        body = xmlrpc.client.dumps((), "listjobs").encode()
        sockets = set()
        for _ in range(50):
            conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(xmlrpc.client.loads(resp.read())[0][0], 0)
            sockets.add(id(conn.sock))
        self.assertEqual(len(sockets), 1)
        conn.close()

    def test_streamed_listjobs_keeps_the_connection(self):
        """A listjobs big enough to be streamed (chunked) ended every
        connection: the server took each client for HTTP/1.0.  An HTTP/1.1
        client keeps its connection; an HTTP/1.0 one gets the answer up to
        the close; one that says "Connection: keep-alive" (its version is
        not known to the server) gets a whole answer either way."""
        self.rpc.pause()
        for i in range(600):
            self.assertEqual(self.rpc.addjob(["bots-engine", "-c%d" % i], 5), 0)
        body = xmlrpc.client.dumps((), "listjobs").encode()
        for version, fields, keeps in (("HTTP/1.1", {}, True),
                                       ("HTTP/1.1", {"Connection": "keep-alive"}, False),
                                       ("HTTP/1.0", {}, False),
                                       ("HTTP/1.0", {"Connection": "keep-alive"}, False)):
            conn = http.client.HTTPConnection("127.0.0.1", self.bots.port)
            conn._http_vsn_str = version
            conn._http_vsn = 11 if version == "HTTP/1.1" else 10
            sockets = set()
            for _ in range(3):
                conn.request("POST", "/RPC2", body, dict(fields, **{"Content-Type": "text/xml"}))
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                self.assertEqual(len(xmlrpc.client.loads(resp.read())[0][0]), 600)
                self.assertEqual(resp.will_close, not keeps, (version, fields))
                sockets.add(id(conn.sock))
            if keeps:
                self.assertEqual(len(sockets), 1, (version, fields))
            conn.close()
        self.assertEqual(self.rpc.isup(), 0)

    def test_python2_xmlrpclib_http10(self):
        """What Python 2's xmlrpclib sends: HTTP/1.0, one request, then the
        server closes the connection."""
        body = (b"<?xml version='1.0'?>\n<methodCall>\n<methodName>addjob</methodName>\n"
                b"<params>\n<param>\n<value><array><data>\n<value><string>bots-engine</string></value>\n"
                b"<value><string>-cconfig</string></value>\n</data></array></value>\n</param>\n"
                b"<param>\n<value><int>5</int></value>\n</param>\n</params>\n</methodCall>\n")
        self.hold()
        for expected in (0, 4):
            request = (b"POST /RPC2 HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nUser-Agent: xmlrpclib.py/1.0.1 (by www.pythonware.com)\r\n"
                       b"Content-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % (self.bots.port, len(body))) + body
            with socket.create_connection(("127.0.0.1", self.bots.port), 5) as s:
                s.sendall(request)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break  # the server closed: HTTP/1.0 semantics
                    data += chunk
            head, _, payload = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1."), head)
            self.assertIn(b" 200 ", head.split(b"\r\n")[0])
            self.assertEqual(xmlrpc.client.loads(payload)[0][0], expected)
        self.rpc.clearjobq()
        self.release()

    def test_priority_types(self):
        self.hold()
        # other XML-RPC clients may send <i8>: accepted within int range
        call = ("<?xml version='1.0'?><methodCall><methodName>addjob</methodName><params>"
                "<param><value><array><data><value>bots-engine</value><value>-c%s</value>"
                "</data></array></value></param><param><value><i8>%d</i8></value></param>"
                "</params></methodCall>")
        status, reply = jqtest.post(self.bots.port, (call % ("i8", 4)).encode())
        self.assertEqual(xmlrpc.client.loads(reply)[0][0], 0)
        status, reply = jqtest.post(self.bots.port, (call % ("big", 2**40)).encode())
        with self.assertRaises(xmlrpc.client.Fault) as ctx:
            xmlrpc.client.loads(reply)
        self.assertEqual(ctx.exception.faultCode, 1)
        self.assertIn("priority must be an integer", ctx.exception.faultString)
        self.rpc.clearjobq()
        self.assertEqual(self.rpc.addjob(["bots-engine", "-cneg"], -3), 0)
        self.assertEqual(self.rpc.listjobs(), [[-3, 3, ["bots-engine", "-cneg"]]])
        self.rpc.clearjobq()
        self.release()


if __name__ == "__main__":
    jqtest.main()
