"""Test-side helpers for the fakes: start them, talk to their admin
endpoints, and make a throw-away service-account key."""

import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


class Fakes:
    """The three fakes in one child process (all.py)."""

    def __init__(self, workdir, nice=0):
        self.workdir = workdir
        portfile = os.path.join(workdir, "fakes.ports")
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.log = open(os.path.join(workdir, "fakes.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "all.py"), portfile],
            stdout=subprocess.DEVNULL, stderr=self.log,
            # benchmarks: the fakes stand for remote services, so they
            # should not take the CPU from the bot and the IRC server
            preexec_fn=(lambda: os.nice(nice)) if nice else None)
        deadline = time.time() + 20
        while not os.path.exists(portfile):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("fakes did not start; see fakes.log")
            time.sleep(0.05)
        with open(portfile) as f:
            ports = dict(line.split("=") for line in f.read().split())
        self.port = {k[:-5].lower(): int(v) for k, v in ports.items()}

    def url(self, service):
        return "http://127.0.0.1:%d" % self.port[service]

    def admin(self, service, what, data=None):
        req = urllib.request.Request(
            "%s/_admin/%s" % (self.url(service), what),
            data=None if data is None and what in ("state", "requests")
            else json.dumps(data or {}).encode(),
            method="GET" if what in ("state", "requests") else "POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.load(res)

    def state(self, service):
        return self.admin(service, "state")

    def requests(self):
        """Requests the three services have received so far."""
        return sum(self.admin(s, "requests")["requests"]
                   for s in ("sheets", "trello", "mailgun"))

    def faults(self, service, rules):
        return self.admin(service, "faults", {"rules": rules})

    def latency(self, service, ms):
        return self.admin(service, "latency", {"ms": ms})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def make_service_account(workdir, token_uri,
                         email="registrar@test-project.iam.gserviceaccount.com"):
    """Writes key.json (a service-account key file with a fresh RSA key)
    into workdir; returns (path, public key PEM, client_email)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    path = os.path.join(workdir, "key.json")
    with open(path, "w") as f:
        json.dump({"type": "service_account", "project_id": "test-project",
                   "private_key_id": "0123456789abcdef",
                   "private_key": pem, "client_email": email,
                   "client_id": "1234567890",
                   "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                   "token_uri": token_uri}, f, indent=2)
    os.chmod(path, 0o600)
    return path, pub, email
