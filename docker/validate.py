#!/usr/bin/env python3
"""Checks the deployment files without a container engine: every YAML and JSON file parses,
and the files agree with each other and with the engine. Compose services named in
depends_on, nginx's upstreams and Prometheus's targets exist; every file mounted from this
directory exists; the engine settings set through JOOD__* are settings of
config/default.toml; the dashboard's metrics are metrics the engine declares.

    python3 docker/validate.py        (needs PyYAML; exits non-zero with every problem listed)
"""
import json, pathlib, re, sys

import yaml  # PyYAML

here = pathlib.Path(__file__).resolve().parent
root = here.parent
problems = []

docs = {}
for p in sorted(list(here.rglob("*.yml")) + list(here.rglob("*.yaml"))):
    try:
        docs[p.relative_to(here).as_posix()] = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        problems.append(f"{p}: {e}")
dashboards = {}
for p in sorted(here.rglob("*.json")):
    try:
        dashboards[p.relative_to(here).as_posix()] = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        problems.append(f"{p}: {e}")

compose = docs.get("docker-compose.yml") or {}
services = compose.get("services", {})
for name in ["scylla1", "scylla2", "scylla3", "redis", "jood1", "jood2", "lb", "prometheus", "grafana"]:
    if name not in services:
        problems.append(f"docker-compose.yml: no service {name}")
for name, svc in services.items():
    deps = svc.get("depends_on", [])
    for d in deps if isinstance(deps, list) else deps.keys():
        if d not in services:
            problems.append(f"docker-compose.yml: {name} depends on unknown service {d}")
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("./") and not (here / src).exists():
            problems.append(f"docker-compose.yml: {name} mounts missing {src}")
    if "build" in svc and not (root / svc["build"].get("dockerfile", "Dockerfile")).exists():
        problems.append(f"docker-compose.yml: {name} builds from a missing Dockerfile")

# Engine settings: JOOD__SECTION__[SUB__]KEY must name a setting of config/default.toml.
default = (root / "config" / "default.toml").read_text()
sections, current = {}, None
for line in default.splitlines():
    m = re.match(r"^\[([a-z0-9_.]+)\]", line)
    if m:
        current = m.group(1)
        sections.setdefault(current, set())
    m = re.match(r"^([a-z0-9_]+)\s*=", line)
    if m and current:
        sections[current].add(m.group(1))
for name in ["jood1", "jood2"]:
    env = services.get(name, {}).get("environment", {})
    if not any(k == "JOOD__IDS__LEASE_FROM_REDIS" for k in env):
        problems.append(f"{name}: node ids must come from Redis leases (two engines)")
    for k in env:
        if not k.startswith("JOOD__"):
            continue
        parts = k[len("JOOD__"):].lower().split("__")
        section, key = ".".join(parts[:-1]), parts[-1]
        if key not in sections.get(section, set()):
            problems.append(f"{name}: {k} is not a setting of config/default.toml ([{section}] {key})")
    if "tablets = {'enabled': false}" not in env.get("JOOD__STORE__SCYLLA__REPLICATION", ""):
        problems.append(f"{name}: the keyspace must have tablets off (LWT)")

nginx = (here / "nginx.conf").read_text()
upstreams = re.findall(r"server\s+([a-z0-9_-]+):\d+", nginx)
if sorted(set(upstreams)) != ["jood1", "jood2"]:
    problems.append(f"nginx.conf: upstreams {upstreams}, expected jood1 and jood2")
for u in upstreams:
    if u not in services:
        problems.append(f"nginx.conf: upstream {u} is no service")

prom = docs.get("prometheus.yml") or {}
for job in prom.get("scrape_configs", []):
    for sc in job.get("static_configs", []):
        for t in sc.get("targets", []):
            if t.split(":")[0] not in services:
                problems.append(f"prometheus.yml: target {t} is no service")

declared = set()
for p in (root / "src" / "telemetry").rglob("*.rs"):
    declared |= set(re.findall(r'"(jood_[a-z0-9_]+)"', p.read_text()))
for name, d in dashboards.items():
    panels = d.get("panels", [])
    if not panels:
        problems.append(f"{name}: no panels")
    for panel in panels:
        for t in panel.get("targets", []):
            for metric in re.findall(r"\b(jood_[a-z0-9_]+)", t.get("expr", "")):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                if metric not in declared and base not in declared:
                    problems.append(f"{name}: panel {panel.get('title')!r} uses undeclared metric {metric}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"ok: {len(docs)} YAML files, {len(dashboards)} dashboards, {len(services)} services checked")
