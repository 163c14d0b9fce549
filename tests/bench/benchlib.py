"""What every bench under tests/bench shares: processes and their CPU time, pinning, and
nginx as the reference server (started from a temporary directory, as an unprivileged
user when we are root, 1 worker, access_log off, long keep-alive).

A bench imports it after putting tests/integration on sys.path (for the harness).
"""
import os
import signal
import subprocess

from harness import free_port, wait_until

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Pinning is on unless VOEPY_BENCH_PIN=none, and only where there are two CPUs to split.
PIN = os.environ.get("VOEPY_BENCH_PIN", "sut") != "none" and os.cpu_count() >= 2
# The wrk script that prints one JSON line of figures at the end.
REPORT_LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.lua")


def children(pid):
    """Direct children of pid (scans /proc; fine for the few processes involved)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def pin(pids, cpus):
    """Pin every thread of every pid to cpus (threads do not follow their process)."""
    if not PIN:
        return
    for pid in pids:
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass  # a process that just exited


def cpu_seconds(pids):
    """User + system CPU time of pids so far, in seconds."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except OSError:
            pass
    return total / CLK_TCK


def read_pid(path):
    with open(path) as f:
        return int(f.readline().strip())


NGINX_CONF = """\
worker_processes 1;
master_process on;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 65s;
    sendfile on;
    tcp_nopush on;
    client_body_buffer_size 64k;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ }}
    default_type application/json;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        {location}
    }}
}}
"""


class Nginx:
    """nginx from tmp/nginx with location as its server's body ({d} is its directory),
    ready when ready(port) is true; files ({path: bytes}) are written under {d}/www."""

    def __init__(self, tmp, location, ready, files=None):
        self.dir = os.path.join(tmp, "nginx")
        self.port = free_port()
        os.makedirs(os.path.join(self.dir, "tmp"))
        for path, body in (files or {}).items():
            www_file = os.path.join(self.dir, "www", path.lstrip("/"))
            os.makedirs(os.path.dirname(www_file), exist_ok=True)
            with open(www_file, "wb") as f:
                f.write(body)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=self.dir, port=self.port,
                                      location=location.replace("{d}", self.dir)))
        argv = ["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"), "-c", conf]
        if os.getuid() == 0:
            user = "voepy" if subprocess.run(["id", "voepy"], capture_output=True).returncode == 0 \
                else "nobody"
            subprocess.run(["chown", "-R", user, self.dir], check=True)
            os.chmod(tmp, 0o755)
            argv = ["runuser", "-u", user, "--"] + argv
        self.out = open(os.path.join(tmp, "nginx.out"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited: %s" % open(os.path.join(tmp, "nginx.out")).read())
            try:
                return ready(self.port)
            except OSError:
                return False
        wait_until(up, 10, what="nginx")

    def pids(self):
        master = self.proc.pid
        if os.getuid() == 0:  # runuser forks: nginx's master is its child
            master = read_pid(os.path.join(self.dir, "nginx.pid"))
        return [master] + children(master)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
