#!/usr/bin/env python3
"""Our own checker for an Umbrel community app store (umbrelOS 1.x), written from Umbrel's
documented packaging rules (not Umbrel's linter):

    check.py [--release] STORE_DIR

Rules (id: meaning):
  store.file          umbrel-app-store.yml with id and name
  store.prefix        every app id starts with "<store id>-"
  manifest.required   all required umbrel-app.yml fields present
  manifest.id         id is kebab-case and equals the directory name
  manifest.version    version is a quoted string; manifestVersion is numeric
  manifest.category   category is one of Umbrel's categories
  manifest.port       port is an int, not reserved (80, 443, 2000), unique in the store
  compose.services    docker-compose.yml has services, including app_proxy
  compose.build       no build: (images only)
  compose.networks    no top-level networks:
  image.pinned        every image is name:tag@sha256:<64 hex>, tag is not "latest"
  image.placeholder   (--release only) the digest is not the all-zero placeholder
  app_proxy.host      APP_HOST = <app id>_<service>_1 for an existing service
  app_proxy.port      APP_PORT is a port number
  persistence.app_data_root   bind mounts live under ${APP_DATA_DIR}
  persistence.missing_source  the bind source directory exists in the app dir
  access.docker_socket        no docker.sock mount
  exports.*           exports.sh has no exit / cd / set
  hooks.name / hooks.executable
Warnings: service.restart (no restart policy), access.privileged/cap_add/devices/host_network,
access.host_mount (bind outside ${APP_DATA_DIR}).
Exit 0 when there are no errors, 1 otherwise.
"""
import os
import re
import sys

import yaml

REQUIRED = ["manifestVersion", "id", "category", "name", "version", "tagline", "description",
            "developer", "website", "dependencies", "repo", "support", "port", "gallery",
            "path", "submitter", "submission"]
CATEGORIES = {"ai", "automation", "bitcoin", "crypto", "developer", "files", "finance",
              "media", "networking", "social"}
RESERVED_PORTS = {80, 443, 2000}
HOOKS = {f"{a}-{b}" for a in ("pre", "post") for b in ("install", "start", "stop", "update")}
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
IMAGE = re.compile(r"^(?P<name>[a-z0-9.\-/:]+?):(?P<tag>[A-Za-z0-9_.\-]+)@sha256:(?P<d>[0-9a-f]{64})$")


class Report:
    def __init__(self):
        self.items = []

    def error(self, where, rule, msg):
        self.items.append(("ERROR", where, rule, msg))

    def warn(self, where, rule, msg):
        self.items.append(("WARNING", where, rule, msg))

    @property
    def errors(self):
        return [i for i in self.items if i[0] == "ERROR"]


def load_yaml(path, rep, where, rule):
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        rep.error(where, rule, f"{os.path.basename(path)} missing")
        return None
    except yaml.YAMLError as e:
        rep.error(where, rule, f"{os.path.basename(path)}: invalid YAML: {e}")
        return None
    if not isinstance(data, dict):
        rep.error(where, rule, f"{os.path.basename(path)}: not a mapping")
        return None
    return data


def check_manifest(app_dir, app_id_dir, m, rep):
    w = app_id_dir
    for k in REQUIRED:
        if k not in m:
            rep.error(w, "manifest.required", f"missing field {k}")
    if not isinstance(m.get("manifestVersion"), (int, float)) or isinstance(
            m.get("manifestVersion"), bool):
        rep.error(w, "manifest.version", "manifestVersion must be a number")
    app_id = m.get("id")
    if not isinstance(app_id, str) or not KEBAB.match(app_id):
        rep.error(w, "manifest.id", f"id {app_id!r} is not kebab-case")
    elif app_id != app_id_dir:
        rep.error(w, "manifest.id", f"id {app_id!r} != directory name {app_id_dir!r}")
    if "version" in m and not isinstance(m["version"], str):
        rep.error(w, "manifest.version", "version must be a quoted string")
    if "category" in m and m["category"] not in CATEGORIES:
        rep.error(w, "manifest.category", f"unknown category {m['category']!r}")
    port = m.get("port")
    if "port" in m:
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            rep.error(w, "manifest.port", f"port {port!r} is not a port number")
        elif port in RESERVED_PORTS:
            rep.error(w, "manifest.port", f"port {port} is reserved by umbrelOS")
    for k in ("dependencies", "gallery"):
        if k in m and not isinstance(m[k], list):
            rep.error(w, "manifest.required", f"{k} must be a list")
    for k in ("tagline", "description", "name", "developer"):
        if k in m and (not isinstance(m[k], str) or not m[k].strip()):
            rep.error(w, "manifest.required", f"{k} must be a non-empty string")


def check_compose(app_dir, app_id, c, rep, release):
    w = app_id
    services = c.get("services")
    if not isinstance(services, dict) or not services:
        rep.error(w, "compose.services", "no services")
        return
    if "networks" in c:
        rep.error(w, "compose.networks", "top-level networks: is not allowed")
    proxy = services.get("app_proxy")
    if not isinstance(proxy, dict):
        rep.error(w, "compose.services", "app_proxy service missing")
    else:
        env = proxy.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env if "=" in e)
        host = str(env.get("APP_HOST", ""))
        others = [s for s in services if s != "app_proxy"]
        if host not in {f"{app_id}_{s}_1" for s in others}:
            rep.error(w, "app_proxy.host",
                      f"APP_HOST {host!r} is not <app id>_<service>_1 of {others}")
        port = env.get("APP_PORT")
        try:
            ok = 1 <= int(str(port)) <= 65535
        except ValueError:
            ok = False
        if not ok:
            rep.error(w, "app_proxy.port", f"APP_PORT {port!r} is not a port")
        if "image" in proxy:
            rep.warn(w, "app_proxy.image", "umbrelOS supplies app_proxy's image")
    for name, s in services.items():
        if name == "app_proxy" or not isinstance(s, dict):
            continue
        sw = f"{w}/{name}"
        if "build" in s:
            rep.error(sw, "compose.build", "build: is not allowed; use a published image")
        img = s.get("image")
        if not isinstance(img, str):
            rep.error(sw, "image.pinned", "no image")
        else:
            mt = IMAGE.match(img)
            if not mt:
                rep.error(sw, "image.pinned", f"{img!r} is not name:tag@sha256:<digest>")
            elif mt.group("tag") == "latest":
                rep.error(sw, "image.pinned", "tag latest is not allowed")
            elif release and set(mt.group("d")) == {"0"}:
                rep.error(sw, "image.placeholder", "digest is the all-zero placeholder")
        if "restart" not in s:
            rep.warn(sw, "service.restart", "no restart policy")
        if s.get("privileged"):
            rep.warn(sw, "access.privileged", "privileged: true")
        for k, rule in (("cap_add", "access.cap_add"), ("devices", "access.devices")):
            if s.get(k):
                rep.warn(sw, rule, f"{k} used")
        if s.get("network_mode") == "host":
            rep.warn(sw, "access.host_network", "network_mode: host")
        for v in s.get("volumes") or []:
            src = v.get("source", "") if isinstance(v, dict) else str(v).split(":", 1)[0]
            if "docker.sock" in str(v):
                rep.error(sw, "access.docker_socket", "docker socket mounted")
                continue
            if src.startswith("${APP_DATA_DIR}"):
                rel = src[len("${APP_DATA_DIR}"):].lstrip("/")
                if rel and not os.path.isdir(os.path.join(app_dir, rel)):
                    rep.error(sw, "persistence.missing_source",
                              f"{src}: {rel}/ missing in the app dir (add a .gitkeep)")
            elif src.startswith("/") or src.startswith("$"):
                rep.warn(sw, "access.host_mount", f"bind mount outside ${{APP_DATA_DIR}}: {src}")
            else:
                rep.error(sw, "persistence.app_data_root",
                          f"named volume {src!r}: durable data must live under ${{APP_DATA_DIR}}")


def check_exports(app_dir, app_id, rep):
    p = os.path.join(app_dir, "exports.sh")
    if not os.path.exists(p):
        return
    with open(p) as f:
        for n, line in enumerate(f, 1):
            code = line.split("#", 1)[0]
            for word, rule in (("exit", "exports.exit"), ("cd", "exports.cd"),
                               ("set", "exports.shell_options")):
                if re.search(rf"(^|[;&|\s]){word}(\s|$)", code):
                    rep.error(f"{app_id}/exports.sh:{n}", rule, f"`{word}` is not allowed")


def check_hooks(app_dir, app_id, rep):
    d = os.path.join(app_dir, "hooks")
    if not os.path.isdir(d):
        return
    for h in sorted(os.listdir(d)):
        if h not in HOOKS:
            rep.error(f"{app_id}/hooks", "hooks.name", f"unknown hook {h}")
        elif not os.access(os.path.join(d, h), os.X_OK):
            rep.error(f"{app_id}/hooks", "hooks.executable", f"{h} is not executable")


def check_store(root, release=False):
    rep = Report()
    store = load_yaml(os.path.join(root, "umbrel-app-store.yml"), rep, "store", "store.file")
    store_id = None
    if store is not None:
        store_id = store.get("id")
        if not isinstance(store_id, str) or not KEBAB.match(store_id) or not store.get("name"):
            rep.error("store", "store.file", "umbrel-app-store.yml needs a kebab-case id and a name")
            store_id = None
    ports = {}
    apps = sorted(d for d in os.listdir(root)
                  if os.path.isdir(os.path.join(root, d)) and not d.startswith((".", "_")))
    if not apps:
        rep.error("store", "store.file", "no app directories")
    for app in apps:
        app_dir = os.path.join(root, app)
        if store_id and not app.startswith(store_id + "-"):
            rep.error(app, "store.prefix", f"app id must start with {store_id}-")
        m = load_yaml(os.path.join(app_dir, "umbrel-app.yml"), rep, app, "manifest.required")
        if m is not None:
            check_manifest(app_dir, app, m, rep)
            p = m.get("port")
            if isinstance(p, int):
                if p in ports:
                    rep.error(app, "manifest.port", f"port {p} also used by {ports[p]}")
                ports[p] = app
        c = load_yaml(os.path.join(app_dir, "docker-compose.yml"), rep, app, "compose.services")
        if c is not None:
            check_compose(app_dir, app, c, rep, release)
        check_exports(app_dir, app, rep)
        check_hooks(app_dir, app, rep)
    return rep


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    release = "--release" in argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    rep = check_store(args[0], release)
    for level, where, rule, msg in rep.items:
        print(f"{level} {rule} [{where}] {msg}")
    if rep.errors:
        print(f"{len(rep.errors)} error(s)")
        return 1
    print("No issues found." if not rep.items else "No errors.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
