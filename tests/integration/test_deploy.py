"""Keeps the deployment files honest where no Docker engine or cluster can run them.

- The Dockerfile installs exactly from deploy/packages-*.txt through the script .ci/run uses.
- Every shared library the programs load (ldd) comes from a package of packages-runtime.txt or its
  dependencies (dpkg -S), and the list names nothing the programs do not link against.
- The Dockerfile, compose file, Kubernetes manifests, systemd unit and gateway template name the port,
  probes, environment variables and body limit the daemon really has (parsed from `ptuned --help`).
- The rendered gateway template passes `nginx -t`; the systemd unit passes `systemd-analyze verify`
  and its sandbox rates "OK" in `systemd-analyze security`.
"""
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as d  # noqa: E402

SRC = d.env_path("PTUNE_SRC")
PTUNE = d.env_path("PTUNE_BIN")
PTUNED = d.env_path("PTUNED_BIN")
for tool in ("dpkg-query", "ldd", "readelf", "nginx", "envsubst", "systemd-analyze"):
    if subprocess.run(["sh", "-c", "command -v " + tool], capture_output=True).returncode != 0:
        d.skip("%s is not installed (deploy/packages-build.txt lists its package)" % tool)
TMP = d.scratch_dir("deploy")
f = d.Failures()


def src(*parts):
    return os.path.join(SRC, *parts)


def read(*parts):
    with open(src(*parts), encoding="utf-8") as fh:
        return fh.read()


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# --- what the daemon says about itself ------------------------------------------------------------

def daemon_options():
    """{flag: {"env": PTUNED_..., "default": str or None}} from `ptuned --help`."""
    r = run([PTUNED, "--help"])
    if r.returncode != 0:
        sys.exit("ptuned --help: exit %d: %s" % (r.returncode, r.stderr))
    options = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(--[a-z][a-z0-9-]*)", line)
        if not m:
            continue
        env = re.search(r"\b(PTUNED_[A-Z0-9_]+)\b", line)
        default = re.search(r"\[([^\]]+)\]\s*$", line)
        options[m.group(1)] = {"env": env.group(1) if env else None,
                               "default": default.group(1) if default else None}
    return options


OPTIONS = daemon_options()
ENV_NAMES = {o["env"] for o in OPTIONS.values() if o["env"]}
for flag in ("--model", "--db", "--listen", "--max-body", "--healthcheck", "--api-keys-file", "--threads"):
    f.check(flag in OPTIONS, "ptuned --help does not list %s" % flag)
DEFAULT_LISTEN = (OPTIONS.get("--listen") or {}).get("default") or ""
DEFAULT_PORT = int(DEFAULT_LISTEN.rsplit(":", 1)[1]) if re.fullmatch(r".+:[0-9]+", DEFAULT_LISTEN) else None
f.check(DEFAULT_PORT is not None, "ptuned --help gives no default host:port for --listen (%r)" % DEFAULT_LISTEN)


def size_bytes(text):
    """The daemon's size syntax: bytes with an optional K, M or G suffix."""
    m = re.fullmatch(r"([0-9]+)([KMGkmg]?)", str(text))
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()] if m else None


DEFAULT_MAX_BODY = size_bytes((OPTIONS.get("--max-body") or {}).get("default"))
f.check(DEFAULT_MAX_BODY is not None, "ptuned --help gives no default size for --max-body")
DRAIN = (OPTIONS.get("--drain-timeout") or {}).get("default")
f.check(DRAIN is not None and DRAIN.isdigit(), "ptuned --help gives no default for --drain-timeout")
DRAIN = int(DRAIN) if DRAIN and DRAIN.isdigit() else 0


def port_of(listen):
    m = re.fullmatch(r".*:([0-9]+)", str(listen))
    return int(m.group(1)) if m else None


def check_env_names(names, where):
    for name in names:
        if name.startswith("PTUNED_"):
            f.check(name in ENV_NAMES, "%s sets %s, which ptuned --help does not list" % (where, name))


# --- package lists: one install path for CI and both image stages ---------------------------------

def package_list(name):
    with open(src("deploy", name), encoding="utf-8") as fh:
        return [p for line in fh for p in line.split("#", 1)[0].split()]


BUILD_PKGS = package_list("packages-build.txt")
RUNTIME_PKGS = package_list("packages-runtime.txt")
f.check(BUILD_PKGS and RUNTIME_PKGS, "a package list is empty")
for pkg in BUILD_PKGS + RUNTIME_PKGS:
    r = run(["dpkg-query", "-W", "-f", "${Status}", pkg])
    f.check(r.stdout.endswith("installed"), "package %s of deploy/packages-*.txt is not installed here, so CI's "
                                            "install does not cover it" % pkg)

ci = read(".ci", "run")
f.check(re.search(r"^sh deploy/install-packages\.sh deploy/packages-build\.txt\b", ci, re.M) is not None,
        ".ci/run does not install through deploy/install-packages.sh deploy/packages-build.txt")
f.check("apt-get install" not in ci and "apt install" not in ci, ".ci/run installs packages by itself")


def dockerfile_stages():
    """[(from_line, [(INSTRUCTION, args)])] with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", read("Dockerfile"))
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, args = line.partition(" ")
        if word.upper() == "FROM":
            stages.append((args.strip(), []))
        else:
            f.check(stages, "Dockerfile: %s before FROM" % word)
            stages[-1][1].append((word.upper(), args.strip()))
    return stages


STAGES = dockerfile_stages()
f.check(len(STAGES) == 2, "Dockerfile has %d stages, want build + runtime" % len(STAGES))
dockerfile = read("Dockerfile")
f.check(re.search(r"apt(-get)? +install", dockerfile) is None, "the Dockerfile runs apt-get install itself")
for (base, body), want_base, list_name, extra in ((STAGES[0], r"debian:bookworm AS build", "packages-build.txt", ""),
                                                   (STAGES[-1], r"debian:bookworm-slim", "packages-runtime.txt",
                                                    " --no-install-recommends")):
    f.check(re.fullmatch(want_base, base) is not None, "Dockerfile stage 'FROM %s', want %s" % (base, want_base))
    copies = [a.split() for i, a in body if i == "COPY"]
    f.check(["deploy/install-packages.sh", "deploy/" + list_name, "/tmp/deploy/"] in copies,
            "Dockerfile stage %s does not copy deploy/install-packages.sh and deploy/%s" % (base, list_name))
    runs = [a for i, a in body if i == "RUN"]
    f.check(any(a.startswith("sh /tmp/deploy/install-packages.sh /tmp/deploy/%s%s " % (list_name, extra))
                for a in runs), "Dockerfile stage %s does not install /tmp/deploy/%s" % (base, list_name))
build_body, final = STAGES[0][1], dict(STAGES[-1][1])
f.check(any(i == "RUN" and re.match(r"make\b", a) for i, a in build_body), "the build stage does not run make")


# --- runtime libraries: ldd and dpkg -S against packages-runtime.txt ------------------------------

def owning_package(path):
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib/"):
            candidates.append("/usr" + p)
    for p in candidates:
        r = run(["dpkg", "-S", p])
        if r.returncode == 0:
            return r.stdout.split(":", 1)[0].strip()
    return None


def depends_closure(pkgs):
    seen, todo = set(), list(pkgs)
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        r = run(["dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", pkg])
        for alternatives in r.stdout.split(","):
            # Of "a | b" the installed alternative is the one the image would get from apt as well.
            for alt in alternatives.split("|"):
                name = alt.strip().split(" ")[0].split(":")[0]
                if name and run(["dpkg-query", "-W", "-f", "${Status}", name]).stdout.endswith("installed"):
                    todo.append(name)
                    break
    return seen


def needed(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", run(["readelf", "-d", path]).stdout)


# Every Debian image has the C library and libgcc. Sanitizer runtimes (and what only they load, such as
# libstdc++) exist only in `make SAN=1` builds, never in the image: the walk below skips their subtrees.
BASE_PKGS = {"libc6", "libgcc-s1"}
SANITIZER_LIBS = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")
closure = depends_closure(set(RUNTIME_PKGS) | BASE_PKGS)
direct_pkgs = set()
for program in (PTUNE, PTUNED):
    ldd = run(["ldd", program])
    f.check(ldd.returncode == 0 and "not found" not in ldd.stdout, "ldd %s: %s" % (program, ldd.stdout + ldd.stderr))
    paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd.stdout, re.M))
    # The dynamic loader is listed by its path alone.
    paths.update((os.path.basename(p), p) for p in re.findall(r"^\s*(/\S+) \(0x", ldd.stdout, re.M))
    direct = [lib for lib in needed(program) if not SANITIZER_LIBS.match(lib)]
    f.check(direct, "readelf -d %s lists no NEEDED library" % program)
    loaded, todo = set(), list(direct)
    while todo:
        lib = todo.pop()
        if lib in loaded or SANITIZER_LIBS.match(lib):
            continue
        loaded.add(lib)
        f.check(lib in paths, "ldd %s does not resolve %s" % (program, lib))
        todo.extend(needed(paths[lib]) if lib in paths else [])
    for lib in sorted(loaded):
        path = paths.get(lib)
        if path is None:
            continue
        pkg = owning_package(path)
        f.check(pkg is not None, "%s loads %s (%s), which no Debian package provides" % (program, lib, path))
        if pkg is None:
            continue
        if lib in direct:
            direct_pkgs.add(pkg)
            f.check(pkg in RUNTIME_PKGS or pkg in BASE_PKGS,
                    "%s links %s from package %s, missing in deploy/packages-runtime.txt" % (program, lib, pkg))
        f.check(pkg in closure, "%s loads %s from package %s, which packages-runtime.txt does not pull in"
                % (program, lib, pkg))
for pkg in RUNTIME_PKGS:
    f.check(pkg in direct_pkgs, "deploy/packages-runtime.txt names %s, but no program links a library of it" % pkg)


# --- the image's configuration --------------------------------------------------------------------

def instruction_values(body, name):
    return [a for i, a in body if i == name]


final_body = STAGES[-1][1]
user = (instruction_values(final_body, "USER") or ["root"])[-1]
f.check(user.split(":")[0] not in ("root", "0"), "the runtime image runs as %s" % user)
IMAGE_UID = user.split(":")[0]
expose = instruction_values(final_body, "EXPOSE")
f.check(expose == [str(DEFAULT_PORT)], "Dockerfile EXPOSE %s, the daemon's default port is %s" % (expose, DEFAULT_PORT))
env = {}
for args in instruction_values(final_body, "ENV"):
    for token in shlex.split(args):
        key, _, value = token.partition("=")
        env[key] = value
check_env_names(env, "Dockerfile ENV")
f.check(port_of(env.get("PTUNED_LISTEN")) == DEFAULT_PORT and env.get("PTUNED_LISTEN", "").startswith("0.0.0.0:"),
        "Dockerfile PTUNED_LISTEN=%r, want 0.0.0.0:%s" % (env.get("PTUNED_LISTEN"), DEFAULT_PORT))
f.check(env.get("PTUNED_DB", "").startswith("/data/"), "Dockerfile PTUNED_DB=%r is not on /data" % env.get("PTUNED_DB"))
f.check(env.get("PTUNED_MODEL") == "/models", "Dockerfile PTUNED_MODEL=%r, want /models" % env.get("PTUNED_MODEL"))
volumes = " ".join(instruction_values(final_body, "VOLUME"))
f.check('"/data"' in volumes and '"/models"' in volumes, "Dockerfile VOLUME %s lacks /data or /models" % volumes)
f.check(instruction_values(final_body, "HEALTHCHECK")[-1:] and
        instruction_values(final_body, "HEALTHCHECK")[-1].endswith('CMD ["ptuned", "--healthcheck"]'),
        "Dockerfile HEALTHCHECK does not run ptuned --healthcheck")
f.check(instruction_values(final_body, "STOPSIGNAL") == ["SIGTERM"], "Dockerfile STOPSIGNAL is not SIGTERM")
f.check(instruction_values(final_body, "ENTRYPOINT") == ['["ptuned"]'], "Dockerfile ENTRYPOINT is not ptuned")
f.check(any("/src/bin/ptuned" in a.split() for a in instruction_values(final_body, "COPY")),
        "the runtime stage does not copy bin/ptuned from the build stage")
ignored = read(".dockerignore").split()
for pattern in (".git", "build", "bin", "**/*.db"):
    f.check(pattern in ignored, ".dockerignore does not exclude %s" % pattern)


# --- the gateway template, rendered and checked by nginx -t ---------------------------------------

template = read(*d.TEMPLATE.split("/"))
TEMPLATE_VARS = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", template))
f.check(TEMPLATE_VARS == {"PTUNED_UPSTREAM", "PTUNED_MAX_BODY", "GATEWAY_LISTEN"},
        "gateway template variables %s" % sorted(TEMPLATE_VARS))
f.check(re.search(r"^\s*client_max_body_size \$\{PTUNED_MAX_BODY\};", template, re.M) is not None,
        "the gateway's client_max_body_size is not ${PTUNED_MAX_BODY}")
f.check(re.search(r"^\s*keepalive [0-9]+;", template, re.M) is not None, "the gateway upstream has no keepalive")
f.check(re.search(r"^\s*proxy_set_header X-Request-Id \$ptuned_request_id;", template, re.M) is not None,
        "the gateway does not pass X-Request-Id on")
read_timeout = re.search(r"^\s*proxy_read_timeout ([0-9]+)s;", template, re.M)
f.check(read_timeout is not None and int(read_timeout.group(1)) >= 60,
        "the gateway's proxy_read_timeout is missing or under 60 s")
nginx_dir = os.path.join(TMP, "nginx")
os.makedirs(nginx_dir)
confd = d.render_template(SRC, nginx_dir, {"PTUNED_UPSTREAM": "127.0.0.1:%d" % d.free_port(),
                                           "PTUNED_MAX_BODY": str(DEFAULT_MAX_BODY),
                                           "GATEWAY_LISTEN": "127.0.0.1:%d" % d.free_port()})
conf = d.write_nginx_conf(nginx_dir, confd)
r = run(d.nginx_cmd(nginx_dir, conf, "-t"))
f.check(r.returncode == 0, "nginx -t on the rendered gateway template: %s" % r.stderr.strip())


# --- compose --------------------------------------------------------------------------------------

compose = d.yaml_load_all(src("deploy", "compose.yaml"))[0]
services = compose.get("services", {})
f.check(set(services) == {"ptuned", "gateway"}, "compose services %s, want ptuned and gateway" % sorted(services))
daemon_svc, gateway_svc = services.get("ptuned", {}), services.get("gateway", {})
daemon_env = {k: d.compose_interpolate(v) for k, v in (daemon_svc.get("environment") or {}).items()}
gateway_env = {k: d.compose_interpolate(v) for k, v in (gateway_svc.get("environment") or {}).items()}
check_env_names(daemon_env, "compose service ptuned")
compose_port = port_of(daemon_env.get("PTUNED_LISTEN"))
f.check(compose_port == DEFAULT_PORT, "compose PTUNED_LISTEN port %s, the image exposes %s" % (compose_port, DEFAULT_PORT))
f.check(gateway_env.get("PTUNED_UPSTREAM") == "ptuned:%s" % compose_port,
        "compose PTUNED_UPSTREAM=%r does not point at ptuned:%s" % (gateway_env.get("PTUNED_UPSTREAM"), compose_port))
f.check(set(gateway_env) == TEMPLATE_VARS, "compose gateway environment %s differs from the template's variables %s"
        % (sorted(gateway_env), sorted(TEMPLATE_VARS)))
daemon_limit = size_bytes(daemon_env.get("PTUNED_MAX_BODY", DEFAULT_MAX_BODY))
# Plain bytes: the gateway also writes the number into its JSON 413 body.
f.check(re.fullmatch(r"[0-9]+", str(gateway_env.get("PTUNED_MAX_BODY"))) is not None
        and int(gateway_env["PTUNED_MAX_BODY"]) == daemon_limit,
        "compose body limit: gateway %s, daemon %s" % (gateway_env.get("PTUNED_MAX_BODY"), daemon_limit))
f.check(daemon_limit == DEFAULT_MAX_BODY,
        "compose body limit %s differs from the daemon's default %s" % (daemon_limit, DEFAULT_MAX_BODY))
grace = re.fullmatch(r"([0-9]+)s", str(daemon_svc.get("stop_grace_period")))
f.check(grace is not None and int(grace.group(1)) > DRAIN,
        "compose stop_grace_period %s does not exceed the daemon's drain timeout %ss"
        % (daemon_svc.get("stop_grace_period"), DRAIN))
f.check("./nginx/templates:/etc/nginx/templates:ro" in (gateway_svc.get("volumes") or []),
        "the gateway does not mount deploy/nginx/templates at /etc/nginx/templates")
mounts = [d.compose_interpolate(v).split(":")[1] for v in daemon_svc.get("volumes") or []]
f.check(sorted(mounts) == ["/data", "/models"], "compose ptuned mounts %s, want /data and /models" % mounts)
f.check(daemon_svc.get("read_only") is True and "/tmp" in (daemon_svc.get("tmpfs") or []),
        "compose ptuned is not read-only with a /tmp tmpfs")
build = daemon_svc.get("build") or {}
f.check(os.path.normpath(os.path.join(src("deploy"), build.get("context", ""), build.get("dockerfile", ""))) ==
        src("Dockerfile"), "compose builds %s, not the repository's Dockerfile" % build)


# --- Kubernetes -----------------------------------------------------------------------------------

k8s_dir = src("deploy", "k8s")
kustomization = d.yaml_load_all(os.path.join(k8s_dir, "kustomization.yaml"))[0]
manifests = sorted(n for n in os.listdir(k8s_dir) if n.endswith(".yaml") and n != "kustomization.yaml")
f.check(sorted(kustomization.get("resources", [])) == manifests,
        "kustomization resources %s, manifests %s" % (kustomization.get("resources"), manifests))
objects = {}
for name in manifests:
    for doc in d.yaml_load_all(os.path.join(k8s_dir, name)):
        objects[(doc["kind"], doc["metadata"]["name"])] = doc
deployment = objects.get(("Deployment", "ptuned"), {})
spec = deployment.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
containers = pod.get("containers") or [{}]
c = containers[0]
f.check(spec.get("replicas") == 1 and spec.get("strategy", {}).get("type") == "Recreate",
        "the Deployment is not one replica with the Recreate strategy")
f.check(spec.get("selector", {}).get("matchLabels") == spec.get("template", {}).get("metadata", {}).get("labels"),
        "the Deployment's selector does not match its pod labels")
k8s_env = {e["name"]: e.get("value") for e in c.get("env", [])}
check_env_names(k8s_env, "deploy/k8s/deployment.yaml")
ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
f.check(ports.get("http") == DEFAULT_PORT == port_of(k8s_env.get("PTUNED_LISTEN")),
        "k8s containerPort %s and PTUNED_LISTEN %s, want %s" % (ports, k8s_env.get("PTUNED_LISTEN"), DEFAULT_PORT))
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
    get = c.get(probe, {}).get("httpGet", {})
    f.check(get.get("path") == path and get.get("port") in ("http", DEFAULT_PORT),
            "k8s %s is %s, want GET %s on the http port" % (probe, get, path))
resources = c.get("resources", {})
f.check(resources.get("requests", {}).get("cpu") and resources.get("requests", {}).get("memory")
        and resources.get("limits", {}).get("memory"), "k8s resources lack cpu/memory requests or a memory limit")
f.check(str(k8s_env.get("PTUNED_THREADS")) == str(resources.get("requests", {}).get("cpu")),
        "k8s PTUNED_THREADS %s differs from the CPU request" % k8s_env.get("PTUNED_THREADS"))
pod_sc, c_sc = pod.get("securityContext", {}), c.get("securityContext", {})
f.check(pod_sc.get("runAsNonRoot") is True and str(pod_sc.get("runAsUser")) == IMAGE_UID,
        "k8s pod does not run as non-root uid %s (the image's user)" % IMAGE_UID)
f.check(c_sc.get("readOnlyRootFilesystem") is True and c_sc.get("allowPrivilegeEscalation") is False
        and c_sc.get("capabilities", {}).get("drop") == ["ALL"],
        "k8s container is not read-only / without privilege escalation / without capabilities")
f.check(pod.get("terminationGracePeriodSeconds", 30) > DRAIN,
        "k8s terminationGracePeriodSeconds does not exceed the daemon's drain timeout %ss" % DRAIN)
volumes = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
writable = sorted(p for p, m in mounts.items() if not m.get("readOnly"))
f.check(writable == ["/data", "/tmp"], "k8s writable mounts %s, want /data and /tmp only" % writable)
data_claim = volumes.get(mounts.get("/data", {}).get("name"), {}).get("persistentVolumeClaim", {}).get("claimName")
pvc = objects.get(("PersistentVolumeClaim", data_claim), {})
f.check(pvc.get("spec", {}).get("accessModes") == ["ReadWriteOnce"], "/data is not a ReadWriteOnce PVC in deploy/k8s")
f.check("emptyDir" in volumes.get(mounts.get("/tmp", {}).get("name"), {}), "/tmp is not an emptyDir")
f.check(k8s_env.get("PTUNED_DB", "").startswith("/data/"), "k8s PTUNED_DB is not on /data")
keys_file = k8s_env.get("PTUNED_API_KEYS_FILE", "")
keys_mount = os.path.dirname(keys_file)
secret = volumes.get(mounts.get(keys_mount, {}).get("name"), {}).get("secret", {})
generators = {g["name"]: g for g in kustomization.get("secretGenerator", [])}
f.check(secret.get("secretName") in generators and
        os.path.basename(keys_file) in generators.get(secret.get("secretName"), {}).get("files", []),
        "PTUNED_API_KEYS_FILE=%s is not a file of the kustomize-generated Secret" % keys_file)
f.check(mounts.get(keys_mount, {}).get("readOnly") is True, "the API keys mount is writable")
service = objects.get(("Service", "ptuned"), {}).get("spec", {})
f.check(service.get("selector") == spec.get("template", {}).get("metadata", {}).get("labels"),
        "the Service's selector does not match the pod labels")
f.check(any(p.get("targetPort") in ("http", DEFAULT_PORT) for p in service.get("ports", [])),
        "the Service does not target the http port")


# --- systemd --------------------------------------------------------------------------------------

unit_text = read("deploy", "ptuned.service")
unit = {}
for line in unit_text.splitlines():
    if "=" in line and not line.startswith(("#", "[")):
        key, _, value = line.partition("=")
        unit.setdefault(key, []).append(value)
for key, want in (("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("DynamicUser", "yes"),
                  ("StateDirectory", "ptuned"), ("KillSignal", "SIGTERM"), ("ExecStart", "/usr/local/bin/ptuned")):
    f.check(unit.get(key) == [want], "ptuned.service %s=%s, want %s" % (key, unit.get(key), want))
stop = re.fullmatch(r"([0-9]+)s?", (unit.get("TimeoutStopSec") or [""])[-1])
f.check(stop is not None and int(stop.group(1)) > DRAIN,
        "ptuned.service TimeoutStopSec does not exceed the daemon's drain timeout %ss" % DRAIN)
unit_env = dict(v.split("=", 1) for v in unit.get("Environment", []))
check_env_names(unit_env, "deploy/ptuned.service")
f.check(unit_env.get("PTUNED_DB", "").startswith("%S/ptuned/"), "ptuned.service keeps the database outside its StateDirectory")
# verify resolves ExecStart, so the copy points at the binary that exists here.
unit_copy = os.path.join(TMP, "ptuned.service")
with open(unit_copy, "w", encoding="utf-8") as fh:
    fh.write(unit_text.replace("ExecStart=/usr/local/bin/ptuned", "ExecStart=" + PTUNED))
r = run(["systemd-analyze", "verify", unit_copy])
f.check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
        "systemd-analyze verify ptuned.service: %s" % (r.stdout + r.stderr).strip())
r = run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", unit_copy])
overall = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
f.check(r.returncode == 0 and overall is not None,
        "systemd-analyze security rates ptuned.service above 2.0: %s" % (overall.group(1) if overall else r.stderr))

f.finish("test_deploy")
