"""The systemd unit starts in every layout doc/migrating.md names (issue
20, item 5): with the drop-in that bots-jobqueue-switch writes (its
contract is in the unit's header comment), the server and bots-engine can
write botssys under the unit's sandbox; /tmp is the system's; the server
starts as root and becomes the owner of botssys itself (no User=).

This machine may not run systemd as its init, so the unit is checked with
`systemd-analyze verify` when it is installed, and its sandbox rules are
read here and applied to each layout's botssys (ProtectSystem=,
ReadWritePaths=, ReadOnlyPaths=, InaccessiblePaths=, ProtectHome=,
PrivateTmp=), as systemd.exec(5) defines them."""

import os
import shutil
import subprocess
import tempfile
import unittest

import jqtest

UNIT_IN = os.path.join(jqtest.SRCDIR, "bots-compat", "bots-jobqueueserver.service.in")
UNIT = "bots-jobqueueserver.service"
DROPIN = "bots-jobqueue-switch.conf"

# Where botssys is in the layouts doc/migrating.md names: pip or setup.py
# into /usr/local or /usr, a virtualenv, Bots 3 run in place.
LAYOUTS = {
    "pip into /usr/local": "/usr/local/lib/python3.11/dist-packages/bots/botssys",
    "Debian's /usr": "/usr/lib/python3/dist-packages/bots/botssys",
    "virtualenv in /opt": "/opt/bots-venv/lib/python3.11/site-packages/bots/botssys",
    "virtualenv in a home": "/home/bots/venv/lib/python3.11/site-packages/bots/botssys",
    "source run in place": "/srv/bots/bots/botssys",
}

# What ProtectSystem= makes read-only (systemd.exec(5)).
PROTECTED = {"yes": ["/usr", "/boot", "/efi"],
             "full": ["/usr", "/boot", "/efi", "/etc"],
             "strict": ["/"]}


def read_unit(*texts):
    """The [Service] settings of a unit and its drop-ins, in order: a
    dict of lists (a list setting given empty resets it)."""
    settings = {}
    for text in texts:
        section = None
        for line in text.splitlines():
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            if section != "Service":
                continue
            if value == "":
                settings[key] = []
            else:
                settings.setdefault(key, []).extend(value.split())
    return settings


def under(path, folder):
    folder = folder.lstrip("-").rstrip("/") or "/"
    return folder == "/" or path == folder or path.startswith(folder + "/")


def writable(settings, path):
    """Whether the unit's sandbox lets the service write @path: the most
    specific of the rules that cover it wins, as systemd mounts them."""
    rules = []
    for folder in PROTECTED.get((settings.get("ProtectSystem") or ["no"])[-1], []):
        rules.append((folder, False))
    if (settings.get("ProtectHome") or ["no"])[-1] in ("yes", "read-only", "tmpfs"):
        rules += [("/home", False), ("/root", False), ("/run/user", False)]
    for key, ok in (("ReadWritePaths", True), ("ReadOnlyPaths", False),
                    ("InaccessiblePaths", False)):
        rules += [(folder, ok) for folder in settings.get(key, [])]
    covering = [(len(f.lstrip("-")), ok) for f, ok in rules if under(path, f)]
    return max(covering)[1] if covering else True


def dropin(botssys, botspath):
    """The drop-in as the unit's header comment says it is written."""
    return ("[Service]\nEnvironment=BOTS_DIR=%s\nReadWritePaths=-%s\n" % (botspath, botssys))


class Unit(unittest.TestCase):

    def setUp(self):
        with open(UNIT_IN) as f:
            self.text = f.read().replace("@pkglibexecdir@", os.path.abspath(os.path.dirname(jqtest.SERVER)))

    def test_contract_is_in_the_unit(self):
        """The drop-in's path and keys are written where the switch and
        the administrator read them."""
        for words in ("bots-jobqueueserver.service.d/" + DROPIN, "Environment=BOTS_DIR=",
                      "ReadWritePaths=-<botssys"):
            self.assertIn(words, self.text)

    def test_every_layout_writes_botssys(self):
        for name, botssys in LAYOUTS.items():
            with self.subTest(layout=name):
                settings = read_unit(self.text, dropin(botssys, os.path.dirname(botssys)))
                self.assertTrue(writable(settings, botssys + "/jobqueue/queue.db"))
                self.assertTrue(writable(settings, botssys + "/logging/jobqueue.log"))
                self.assertTrue(writable(settings, "/tmp/engine-file"))

    def test_sandbox_still_protects_the_system(self):
        botssys = LAYOUTS["pip into /usr/local"]
        settings = read_unit(self.text, dropin(botssys, os.path.dirname(botssys)))
        for path in ("/etc/ld.so.preload", "/usr/bin/python3",
                     "/usr/local/lib/python3.11/dist-packages/bots/engine.py"):
            self.assertFalse(writable(settings, path), path)
        # Without the drop-in, a botssys under /usr is read-only: why the
        # switch writes it (the server would exit 1 at every start).
        self.assertFalse(writable(read_unit(self.text), botssys + "/jobqueue/queue.db"))

    def test_no_private_tmp_and_starts_as_root(self):
        settings = read_unit(self.text)
        self.assertNotIn("yes", settings.get("PrivateTmp", []))
        self.assertNotIn("User", settings)
        self.assertNotIn("DynamicUser", settings)

    @unittest.skipIf(shutil.which("systemd-analyze") is None, "systemd-analyze is not installed")
    def test_systemd_analyze_verify(self):
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, UNIT), "w") as f:
                f.write(self.text)
            os.mkdir(os.path.join(folder, UNIT + ".d"))
            with open(os.path.join(folder, UNIT + ".d", DROPIN), "w") as f:
                f.write(dropin(LAYOUTS["Debian's /usr"], "/usr/lib/python3/dist-packages/bots"))
            r = subprocess.run(["systemd-analyze", "verify", "--man=no", os.path.join(folder, UNIT)],
                               capture_output=True, text=True, timeout=jqtest.DEADLINE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("ignoring", r.stdout + r.stderr)
        self.assertNotIn("Unknown", r.stdout + r.stderr)


class InstallDeps(unittest.TestCase):
    """doc/migrating.md's install step, "tools/install-deps build", puts
    on a Bots host what building and running need, and no test service
    (PostgreSQL, Chromium, Prometheus)."""

    TEST_ONLY = {"postgresql", "chromium", "prometheus", "sqlite3"}

    def packages(self, *args):
        """What the script would install on a machine that has none."""
        with tempfile.TemporaryDirectory() as folder:
            record = os.path.join(folder, "installed")
            for name, body in (("dpkg-query", "exit 1"),
                               ("apt-get", 'echo "$@" >> %s' % record)):
                with open(os.path.join(folder, name), "w") as f:
                    f.write("#!/bin/sh\n%s\n" % body)
                os.chmod(os.path.join(folder, name), 0o755)
            env = dict(os.environ, PATH=folder + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"))
            r = subprocess.run(["sh", os.path.join(jqtest.SRCDIR, "tools", "install-deps")] + list(args),
                               env=env, capture_output=True, text=True, timeout=jqtest.DEADLINE)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(record) as f:
                words = f.read().split()
        return set(w for w in words if not w.startswith("-") and w not in ("update", "install"))

    def test_build_installs_no_test_service(self):
        build = self.packages("build")
        self.assertEqual(build & self.TEST_ONLY, set())
        for needed in ("libglib2.0-dev", "libxmlrpc-core-c3-dev", "libsqlite3-dev", "python3"):
            self.assertIn(needed, build)

    def test_default_still_installs_the_test_tools(self):
        """README's and CI's "tools/install-deps && ... make check"."""
        self.assertTrue(self.TEST_ONLY <= self.packages())
        self.assertTrue(self.TEST_ONLY <= self.packages("fuzz"))
        self.assertIn("clang", self.packages("fuzz"))


if __name__ == "__main__":
    jqtest.main()
