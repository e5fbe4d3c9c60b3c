"""Differential test of the request parser (src/message.c) against Python's
own xmlrpc.client: thousands of calls written by xmlrpc.client.dumps over
varied values (nested arrays and structs, Unicode, ints at the edges of
i4 and i8, empty strings, XML's special characters, base64, dates, None)
go through tests/message-roundtrip, which parses each and writes it back
with xmlrpc-c's serializer.  What Python's loads() reads from the request
and what it reads from our answer must be equal; what Python refuses, we
refuse.  Calls written by Python 2's xmlrpclib are checked too when a
python2 is installed."""

import datetime
import math
import os
import random
import subprocess
import unittest
import xmlrpc.client

import jqtest

ROUNDTRIP = os.path.join(jqtest.BUILDDIR, "tests", "message-roundtrip")
CASES = 3000


class I8(int):
    """An int that Python writes as <i8> (xmlrpc.client itself only writes
    <int> and refuses what does not fit; xmlrpc-c and Apache write <i8>)."""


def _dump_i8(marshaller, value, write):
    write("<value><i8>%d</i8></value>\n" % int(value))


xmlrpc.client.Marshaller.dispatch[I8] = _dump_i8

# Characters strings are drawn from: ASCII, XML's specials, white space
# (CR becomes LF in XML, for Python and us alike), Latin, CJK, the
# replacement character, line and paragraph separators.
ALPHABET = (list("abcXYZ019 _-./\\=:;,'\"&<>?!#%[]{}()") + ["]]>", "&amp;", "<!--", "\t", "\n",
            "\r\n", "  ", "\u00e9", "\u00fc", "\u20ac", "\u4e2d", "\ufffd", "\u2028", "\u00a0",
            "\ufeff"])


def gen_string(rng):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.choice((0, 1, 2, 5, 20, 200))))


def gen_scalar(rng):
    kind = rng.randrange(11)
    if kind == 0:
        return rng.choice((0, 1, -1, 2**31 - 1, -2**31, rng.randint(-2**31, 2**31 - 1)))
    if kind == 1:
        return I8(rng.choice((2**31, -2**31 - 1, 2**63 - 1, -2**63, 0,
                              rng.randint(-2**63, 2**63 - 1))))
    if kind == 2:
        return rng.choice((True, False))
    if kind == 3:
        return rng.choice((0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, 0.1 + 0.2,
                           rng.uniform(-1e6, 1e6), 5e-324, 1.7976931348623157e308))
    if kind == 4:
        return bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 2, 3, 57, 100))))
    if kind == 5:
        # from 1000: xmlrpc-c writes earlier years with fewer digits
        return datetime.datetime(rng.randint(1000, 9999), rng.randint(1, 12), rng.randint(1, 28),
                                 rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
    if kind == 6:
        return None
    return gen_string(rng)


def gen_value(rng, depth):
    # each level of array or struct costs three elements of the 32 allowed
    if depth < 6 and rng.random() < 0.3:
        n = rng.choice((0, 1, 2, 5))
        if rng.random() < 0.5:
            return [gen_value(rng, depth + 1) for _ in range(n)]
        return {gen_string(rng): gen_value(rng, depth + 1) for _ in range(n)}
    return gen_scalar(rng)


def normalize(value):
    """A value as compared: base64 as bytes, dates as datetimes, floats
    rounded to what xmlrpc-c's serializer keeps."""
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, xmlrpc.client.Binary):
        return value.data
    if isinstance(value, xmlrpc.client.DateTime):
        return value.value[:17]
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y%m%dT%H:%M:%S")
    return value


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-307)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def roundtrip(requests):
    """Our parser's reading of each request: the XML it writes back, or an
    ERROR string."""
    out = subprocess.run([ROUNDTRIP], input=b"\0".join(requests), stdout=subprocess.PIPE,
                         check=True, timeout=120).stdout
    answers = out.split(b"\0")
    assert answers[-1] == b"", "answers end with a NUL"
    return answers[:-1]


class PythonMessages(unittest.TestCase):

    def compare(self, requests):
        answers = roundtrip(requests)
        self.assertEqual(len(answers), len(requests))
        accepted = 0
        for request, answer in zip(requests, answers):
            try:
                theirs = xmlrpc.client.loads(request)
            except Exception as e:  # what Python refuses, we refuse
                self.assertTrue(answer.startswith(b"ERROR: "),
                                "accepted what Python refuses (%s): %r" % (e, request[:300]))
                continue
            self.assertFalse(answer.startswith(b"ERROR: "), "refused %r: %s"
                             % (request[:300], answer.decode(errors="replace")))
            ours = xmlrpc.client.loads(answer)
            self.assertEqual(ours[1], theirs[1])
            self.assertTrue(same(normalize(ours[0]), normalize(theirs[0])),
                            "%r\nread as %r\nnot %r" % (request[:500], ours[0], theirs[0]))
            accepted += 1
        return accepted

    def test_python3_dumps(self):
        rng = random.Random(12)
        requests = []
        for i in range(CASES):
            params = tuple(gen_value(rng, 0) for _ in range(rng.choice((0, 1, 2, 3))))
            method = rng.choice(("addjob", "listjobs", "system.listMethods", "m\u00e9thode", "a_b"))
            text = xmlrpc.client.dumps(params, method, allow_none=True)
            if i % 5 == 0:
                # ServerProxy(encoding="us-ascii"): character references
                text = xmlrpc.client.dumps(params, method, encoding="us-ascii", allow_none=True)
                requests.append(text.encode("ascii", "xmlcharrefreplace"))
            else:
                requests.append(text.encode("utf-8"))
        accepted = self.compare(requests)
        self.assertGreater(accepted, CASES * 0.9)

    def test_what_python_and_xml_refuse(self):
        """Control characters, which Python writes raw but XML forbids:
        Python's own loads() refuses them, and so do we.  (A NUL byte,
        which would end the message here, is in tests/test_message.c.)"""
        requests = [xmlrpc.client.dumps((s,), "m").encode() for s in
                    ("a\x01b", "\x1b[2J", "x\x0b", "\ufffe", "\uffff")]
        self.compare(requests)

    def test_bots_calls(self):
        calls = [((["bots-engine", "-cconfig", "--new"], 5), "addjob"),
                 ((["/usr/bin/python2.7", "/usr/local/bin/bots-engine.py", "-cconfig"], 1), "addjob"),
                 ((["isup"], 5), "addjob"), ((), "listjobs"), ((), "getjob"), ((), "clearjobq")]
        requests = [xmlrpc.client.dumps(p, m).encode() for p, m in calls]
        self.assertEqual(self.compare(requests), len(calls))

    def test_python2_xmlrpclib(self):
        script = r"""
import sys, xmlrpclib
calls = [((["bots-engine", "-cconfig"], 5), "addjob"), ((), "listjobs"),
         (([u"bots-engine", u"-c\u00e9", "x"], 1), "addjob"),
         (({"a": [1, 2.5, True, None, xmlrpclib.Binary("\x00\xff")],
            u"\u20ac": {}},), "m"),
         ((xmlrpclib.DateTime("20260102T03:04:05"), "", u""), "m")]
sys.stdout.write("\0".join(xmlrpclib.dumps(p, m, allow_none=True).encode("utf-8")
                           if isinstance(xmlrpclib.dumps(p, m, allow_none=True), unicode)
                           else xmlrpclib.dumps(p, m, allow_none=True) for p, m in calls))
"""
        for python in ("python2", "python2.7"):
            try:
                out = subprocess.run([python, "-c", script], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, timeout=30)
            except OSError:
                continue
            if out.returncode == 0 and out.stdout:
                requests = out.stdout.split(b"\0")
                self.assertEqual(self.compare(requests), len(requests))
                return
        self.skipTest("no working python2 with xmlrpclib")


if __name__ == "__main__":
    unittest.main(verbosity=2)
