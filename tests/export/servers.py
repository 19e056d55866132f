"""Stock Debian nginx and Apache serving a folder on a loopback port, started and stopped by pid."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {rules};
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        index index.html;
        if ($drupal_redirect) {{ return 301 $drupal_redirect; }}
        location / {{ try_files $uri $uri/ =404; }}
    }}
}}
"""

APACHE_CONF = """\
ServerRoot {tmp}
DefaultRuntimeDir {tmp}
PidFile {tmp}/httpd.pid
ErrorLog {tmp}/error.log
LogLevel warn
Listen 127.0.0.1:{port}
ServerName localhost
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
User www-data
Group www-data
TypesConfig /etc/mime.types
DocumentRoot {root}
<Directory {root}>
    Require all granted
</Directory>
DirectoryIndex index.html
Include {rules}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            pytest.fail(f"server exited: {log.read_text() if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("server did not come up")


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if found is None:
        pytest.fail(f"{name} is needed for this test (apt-get install {name}; .ci/run does)")
    return found


def check_nginx(rules: Path, tmp: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on a stock http block that includes ``rules``."""
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, rules=rules, port=free_port(), root=root))
    return subprocess.run(
        [_binary("nginx"), "-t", "-c", str(conf), "-p", str(tmp)],
        capture_output=True,
        text=True,
        check=False,
    )


@contextmanager
def nginx(rules: Path, tmp: Path, root: Path) -> Iterator[int]:
    """nginx serving ``root`` with ``rules``; yields the port; stopped by its pid."""
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, rules=rules, port=port, root=root))
    proc = subprocess.Popen([_binary("nginx"), "-c", str(conf), "-p", str(tmp)])
    try:
        _wait_for(port, proc, tmp / "error.log")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def apache(rules: Path, tmp: Path, root: Path) -> Iterator[int]:
    """Apache (mod_rewrite) serving ``root`` with ``rules``; yields the port; stopped by pid."""
    port = free_port()
    conf = tmp / "httpd.conf"
    conf.write_text(APACHE_CONF.format(tmp=tmp, rules=rules, port=port, root=root))
    proc = subprocess.Popen([_binary("apache2"), "-f", str(conf), "-DFOREGROUND"])
    try:
        _wait_for(port, proc, tmp / "error.log")
        yield port
    finally:
        proc.terminate()  # SIGTERM: Apache stops its children and exits
        proc.wait(timeout=20)
