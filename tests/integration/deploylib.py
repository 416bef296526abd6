"""Helpers shared by the deployment tests (test_deploy.py, test_gateway.py, test_fetch_model.py).

Standard library only. A test module that imports this one skips (exit 77) through `skip()` when what it
needs is missing, and fails through `check()` with one line that says what is wrong where.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

SKIP = 77


def skip(why):
    print("skip: " + why)
    sys.exit(SKIP)


class Failures:
    """Collects failed checks so that one run reports all of them, then exits 1 if there were any."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
            print("FAIL: " + what)
        return ok

    def finish(self, name):
        print("%s: %d checks passed, %d failed" % (name, self.passed, len(self.failed)))
        sys.exit(1 if self.failed else 0)


def env_path(name, must_exist=True):
    value = os.environ.get(name)
    if not value:
        skip("%s is not set (run through `make test`)" % name)
    if must_exist and not os.path.exists(value):
        skip("%s=%s does not exist (build it with `make`)" % (name, value))
    return value


def scratch_dir(name):
    """A fresh directory under $PTUNE_TMP (never under the shared data)."""
    root = env_path("PTUNE_TMP", must_exist=False)
    path = os.path.join(root, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a YAML subset, enough for the project's own manifests ------------------------------------------
#
# Block mappings and sequences, plain and quoted scalars, flow sequences of scalars, comments, several
# documents. Anything else (anchors, aliases, tags, block scalars, flow mappings) raises ValueError naming
# the line, so that a manifest outgrowing the subset fails loudly instead of being misread.

class _Line:
    def __init__(self, number, indent, text):
        self.number, self.indent, self.text = number, indent, text


def _strip_comment(text):
    quote = None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"" and (i == 0 or text[i - 1] in " \t:-[,"):
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _scalar(text, where):
    if text == "":
        return None
    if text[0] == '"':
        if len(text) < 2 or text[-1] != '"':
            raise ValueError("%s: unterminated double-quoted scalar" % where)
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if text[0] == "'":
        if len(text) < 2 or text[-1] != "'":
            raise ValueError("%s: unterminated single-quoted scalar" % where)
        return text[1:-1].replace("''", "'")
    if text[0] == "[":
        if text[-1] != "]":
            raise ValueError("%s: flow sequence must end on its line" % where)
        inner = text[1:-1].strip()
        return [_scalar(part.strip(), where) for part in inner.split(",")] if inner else []
    if text[0] in "{&*!|>%@`":
        raise ValueError("%s: '%s' is outside the YAML subset these tests read" % (where, text[0]))
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text


_KEY = re.compile(r"""^("[^"]*"|'[^']*'|[^\s"'#\-\[{][^:]*?|-[^\s:][^:]*?)\s*:(?:\s+(.*))?$""")


def _is_item(text):
    return text == "-" or text.startswith("- ")


def _parse_node(lines, i, indent, path):
    if _is_item(lines[i].text):
        return _parse_seq(lines, i, indent, path)
    return _parse_map(lines, i, indent, path)


def _parse_value(lines, i, indent, rest, path):
    """The value after 'key:' or '- ': inline, or the block on the following lines."""
    where = "%s:%d" % (path, lines[i].number)
    if rest is not None and rest != "":
        return _scalar(rest, where), i + 1
    j = i + 1
    if j < len(lines) and (lines[j].indent > indent or (lines[j].indent == indent and _is_item(lines[j].text)
                                                        and not _is_item(lines[i].text))):
        return _parse_node(lines, j, lines[j].indent, path)
    return None, j


def _parse_map(lines, i, indent, path):
    out = {}
    while i < len(lines) and lines[i].indent == indent and not _is_item(lines[i].text):
        where = "%s:%d" % (path, lines[i].number)
        m = _KEY.match(lines[i].text)
        if not m:
            raise ValueError("%s: expected 'key: value', found %r" % (where, lines[i].text))
        key = _scalar(m.group(1), where)
        if key in out:
            raise ValueError("%s: duplicate key %r" % (where, key))
        out[key], i = _parse_value(lines, i, indent, m.group(2), path)
    if i < len(lines) and lines[i].indent > indent:
        raise ValueError("%s:%d: unexpected indentation" % (path, lines[i].number))
    return out, i


def _parse_seq(lines, i, indent, path):
    out = []
    while i < len(lines) and lines[i].indent == indent and _is_item(lines[i].text):
        line = lines[i]
        rest = line.text[1:].lstrip()
        if rest and _KEY.match(rest) and not rest.startswith(("'", '"', "[")):
            # "- key: value" opens a mapping whose keys line up with "key".
            lines[i] = _Line(line.number, indent + len(line.text) - len(rest), rest)
            value, i = _parse_map(lines, i, lines[i].indent, path)
        else:
            value, i = _parse_value(lines, i, indent, rest, path)
        out.append(value)
    return out, i


def yaml_load_all(path):
    """The documents of a YAML file, as dicts, lists and scalars."""
    docs, current = [], []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            if raw.rstrip("\n") == "---":
                docs.append(current)
                current = []
                continue
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                raise ValueError("%s:%d: tab in indentation" % (path, number))
            text = _strip_comment(raw.rstrip("\n"))
            if text.strip():
                current.append(_Line(number, len(text) - len(text.lstrip(" ")), text.strip()))
    docs.append(current)
    out = []
    for lines in docs:
        if not lines:
            continue
        value, end = _parse_node(lines, 0, lines[0].indent, path)
        if end != len(lines):
            raise ValueError("%s:%d: unexpected content" % (path, lines[end].number))
        out.append(value)
    return out


def compose_interpolate(value, environ=None):
    """Compose's ${VAR:-default} / ${VAR-default} / ${VAR} with the given environment (default: empty)."""
    environ = environ or {}

    def one(m):
        name, op, default = m.group(1), m.group(2), m.group(3) or ""
        if op == ":-":
            return environ.get(name) or default
        if op == "-":
            return environ.get(name, default)
        return environ.get(name, "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-|-)?([^}]*)\}", one, value) if isinstance(value, str) else value


# --- the gateway: the official nginx image's template mechanism, run by the real nginx ----------------

TEMPLATE = "deploy/nginx/templates/default.conf.template"


def render_template(src_root, out_dir, env):
    """Renders the gateway template as the nginx image's 20-envsubst-on-templates.sh does: envsubst with
    the names of every variable defined in the environment. Returns the rendered conf.d directory."""
    confd = os.path.join(out_dir, "conf.d")
    os.makedirs(confd, exist_ok=True)
    full_env = dict(os.environ, **env)
    defined = " ".join("${%s}" % name for name in full_env)
    with open(os.path.join(src_root, TEMPLATE), encoding="utf-8") as f:
        template = f.read()
    rendered = subprocess.run(["envsubst", defined], input=template, capture_output=True, text=True,
                              env=full_env, check=True).stdout
    left = re.findall(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", rendered)
    if left:
        raise ValueError("template variables left unset after rendering: " + ", ".join(sorted(set(left))))
    with open(os.path.join(confd, "default.conf"), "w", encoding="utf-8") as f:
        f.write(rendered)
    return confd


def write_nginx_conf(out_dir, confd):
    """The main nginx.conf of the image (http block including conf.d/*.conf), with every path nginx writes
    under out_dir so that it runs as the current user. As root, workers stay root instead of dropping to
    'nobody', who could not use the scratch directory."""
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(out_dir, "temp", sub), exist_ok=True)
    user = "user root root;\n" if os.geteuid() == 0 else ""
    conf = os.path.join(out_dir, "nginx.conf")
    t = os.path.join(out_dir, "temp")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(user + """worker_processes 1;
pid {out}/nginx.pid;
error_log {out}/error.log info;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    keepalive_timeout 65;
    client_body_temp_path {t}/client_body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    include {confd}/*.conf;
}}
""".format(out=out_dir, t=t, confd=confd))
    return conf


def nginx_cmd(out_dir, conf, *extra):
    return ["nginx", "-p", out_dir, "-e", os.path.join(out_dir, "error.log"), "-c", conf] + list(extra)


def wait_http(url_check, timeout=20.0):
    """Polls url_check() (returns True when up) until it answers or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if url_check():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False
