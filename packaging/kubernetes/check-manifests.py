#!/usr/bin/env python3
"""Checks the Kubernetes example of packaging/kubernetes against a built gateway.

1. Every *.yaml here parses, and every document has apiVersion, kind and
   metadata.name.
2. References hold: workload selectors match their pod labels; each Service
   and PodDisruptionBudget selects a workload; each ConfigMap and Secret a pod
   mounts (and each subPath key) is defined here; probes name declared ports.
3. The gateway container: probes on /healthz (liveness) and /readyz
   (readiness), resources set, and every --flag of its args and every key of
   its --config file (from the ConfigMap) is a flag of `l0l3-gateway --help`.
4. That command line, with the ConfigMap as --config, the secrets as files
   and the downward-API variables filled in, passes `l0l3-gateway
   --check-config`.

Extra YAML files (Grafana provisioning...) given with --also are parsed too.
Usage: check-manifests.py --gateway PATH/TO/l0l3-gateway [--also FILE...]
"""

import argparse
import glob
import hashlib
import os
import re
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:  # pragma: no cover
    print("check-manifests: PyYAML is missing (Debian: python3-yaml, scripts/install-deps.sh)", file=sys.stderr)
    sys.exit(1)

HERE = os.path.dirname(os.path.abspath(__file__))


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""


def _mapping(loader, node, deep=False):
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % (key,), key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}


def help_flags(gateway):
    out = subprocess.run([gateway, "--help"], capture_output=True, text=True, timeout=30)
    text = out.stdout + out.stderr
    flags = set(re.findall(r"^\s+(--[a-z0-9][a-z0-9-]*)", text, re.MULTILINE))
    if "--listen" not in flags:
        raise SystemExit("check-manifests: `%s --help` lists no --listen:\n%s" % (gateway, text))
    return flags


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--also", nargs="*", default=[])
    args = ap.parse_args()
    problems = []

    docs = []
    files = sorted(glob.glob(os.path.join(HERE, "*.yaml")))
    if not files:
        problems.append("no manifest in %s" % HERE)
    for path in files + args.also:
        try:
            with open(path) as f:
                loaded = [d for d in yaml.load_all(f, Loader=StrictLoader) if d is not None]
        except yaml.YAMLError as e:
            problems.append("%s: not YAML: %s" % (path, e))
            continue
        if path in args.also:
            continue
        for d in loaded:
            where = "%s: %s/%s" % (os.path.basename(path), d.get("kind"), (d.get("metadata") or {}).get("name"))
            if not (isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and (d.get("metadata") or {}).get("name")):
                problems.append("%s: apiVersion, kind and metadata.name are required" % where)
                continue
            docs.append((where, d))

    by_kind = {}
    for where, d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    pod_labels = []
    for where, d in docs:
        if d["kind"] not in WORKLOADS:
            continue
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        pod_labels.append(labels)
        selector = d["spec"]["selector"]["matchLabels"]
        if any(labels.get(k) != v for k, v in selector.items()):
            problems.append("%s: selector %s does not match its pod labels %s" % (where, selector, labels))

    def selects_a_workload(selector):
        return any(all(labels.get(k) == v for k, v in selector.items()) for labels in pod_labels)

    for where, d in docs:
        if d["kind"] == "Service" and not selects_a_workload(d["spec"].get("selector", {})):
            problems.append("%s: its selector matches no pod of these manifests" % where)
        if d["kind"] == "PodDisruptionBudget" and not selects_a_workload(d["spec"]["selector"]["matchLabels"]):
            problems.append("%s: its selector matches no pod of these manifests" % where)

    gateway_containers = []
    for where, d in docs:
        if d["kind"] not in WORKLOADS:
            continue
        spec = d["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in d["spec"].get("volumeClaimTemplates", [])}
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in by_kind.get("ConfigMap", {}):
                problems.append("%s: volume %s names ConfigMap %s, not defined here"
                                % (where, v["name"], v["configMap"]["name"]))
            if "secret" in v and v["secret"]["secretName"] not in by_kind.get("Secret", {}):
                problems.append("%s: volume %s names Secret %s, not defined here (secrets.example.yaml)"
                                % (where, v["name"], v["secret"]["secretName"]))
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            cwhere = "%s container %s" % (where, c["name"])
            ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                p = c.get(probe)
                if not p:
                    continue
                port = (p.get("httpGet") or p.get("tcpSocket") or {}).get("port")
                if port is not None and port not in ports:
                    problems.append("%s: %s names port %s, which the container does not declare" % (cwhere, probe, port))
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes and m["name"] not in claims:
                    problems.append("%s: mounts %s, which is no volume of the pod" % (cwhere, m["name"]))
                    continue
                v = volumes.get(m["name"], {})
                if "subPath" in m and "configMap" in v:
                    cm = by_kind.get("ConfigMap", {}).get(v["configMap"]["name"], {})
                    if m["subPath"] not in (cm.get("data") or {}):
                        problems.append("%s: subPath %s is no key of ConfigMap %s"
                                        % (cwhere, m["subPath"], v["configMap"]["name"]))
            if "l0l3" in c.get("image", "") and "gateway" in c.get("image", ""):
                gateway_containers.append((cwhere, d, c, volumes))

    if not gateway_containers:
        problems.append("no l0l3 gateway container in the manifests")
    flags = help_flags(args.gateway)
    for cwhere, d, c, volumes in gateway_containers:
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
            if got != path:
                problems.append("%s: %s should GET %s (it is %s)" % (cwhere, probe, path, got))
        res = c.get("resources") or {}
        if not res.get("requests") or not res.get("limits"):
            problems.append("%s: resources.requests and resources.limits are required" % cwhere)
        argv = [str(a) for a in c.get("command", [])[1:]] + [str(a) for a in c.get("args", [])]
        for a in argv:
            if a.startswith("--") and a.split("=")[0] not in flags:
                problems.append("%s: %s is not a flag of l0l3-gateway --help" % (cwhere, a.split("=")[0]))
        # The --config file: a ConfigMap key mounted at that path.
        config_text = None
        if "--config" in argv:
            config_path = argv[argv.index("--config") + 1]
            for m in c.get("volumeMounts", []):
                v = volumes.get(m["name"], {})
                if "configMap" not in v:
                    continue
                cm = by_kind.get("ConfigMap", {}).get(v["configMap"]["name"], {})
                data = cm.get("data") or {}
                if m["mountPath"] == config_path and m.get("subPath") in data:
                    config_text = data[m["subPath"]]
                elif config_path.startswith(m["mountPath"].rstrip("/") + "/"):
                    config_text = data.get(config_path[len(m["mountPath"].rstrip("/")) + 1:], config_text)
            if config_text is None:
                problems.append("%s: --config %s is not a ConfigMap key mounted there" % (cwhere, config_path))
            else:
                for line in config_text.splitlines():
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    key = line.split("=")[0].strip()
                    if "--" + key not in flags or key in ("config", "help", "version"):
                        problems.append("%s: config key '%s' is not a flag of l0l3-gateway --help" % (cwhere, key))
        problems.extend(check_config(args.gateway, cwhere, c, argv, config_text, volumes))

    for p in problems:
        print("check-manifests: " + p)
    if problems:
        return 1
    print("check-manifests: %d documents in %d files; the gateway's command line passes --check-config"
          % (len(docs), len(files)))
    return 0


def check_config(gateway, cwhere, c, argv, config_text, volumes):
    """Runs the container's command line with --check-config; files under mounted secrets become temp files."""
    env = {e["name"]: "gw-check-0" if "NAME" in e["name"] else "10.0.0.1" for e in c.get("env", [])
           if "valueFrom" in e}
    with tempfile.TemporaryDirectory() as tmp:
        mounts = {m["mountPath"].rstrip("/"): m for m in c.get("volumeMounts", [])}
        out = []
        for a in argv:
            a = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a)
            for path, m in mounts.items():
                if a == path or a.startswith(path + "/"):
                    local = os.path.join(tmp, hashlib.sha1(a.encode()).hexdigest()[:12])
                    with open(local, "w") as f:
                        if a.endswith("gateway.conf") or config_text is not None and "--config" in out[-1:]:
                            f.write(config_text or "")
                        elif "api-keys" in a:
                            f.write("%s default\n" % hashlib.sha256(b"check-manifests").hexdigest())
                        else:
                            f.write("check-manifests-secret\n")
                    os.chmod(local, 0o600)
                    a = local
                    break
            out.append(a)
        r = subprocess.run([gateway] + out + ["--check-config"], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return ["%s: l0l3-gateway --check-config refuses the command line (exit %d): %s"
                    % (cwhere, r.returncode, (r.stdout + r.stderr).strip())]
    return []


if __name__ == "__main__":
    sys.exit(main())
