#!/usr/bin/env python3
"""Render envoy-config/envoy.yaml.tmpl (+ cluster templates) for scripts (run.sh, bench.sh).

The Rust e2e tests render the same templates in tests/src/e2e/envoy_config.rs; keep the two
in step: every {{PLACEHOLDER}} must be filled, or rendering fails.
"""
import argparse
import json
import pathlib
import re
import sys

CONFIG_DIR = pathlib.Path(__file__).resolve().parent.parent / "envoy-config"


def render(template: str, values: dict) -> str:
    text = (CONFIG_DIR / template).read_text()
    for key, value in values.items():
        placeholder = "{{" + key + "}}"
        if placeholder not in text:
            sys.exit(f"{template}: no placeholder {placeholder}")
        text = text.replace(placeholder, value)
    for line in text.splitlines():
        if "{{" in line.split("#", 1)[0]:
            sys.exit(f"{template}: unfilled placeholder in: {line.strip()}")
    return text


def tls_cluster(spec: str) -> str:
    # NAME,HOST:PORT,SNI,CA[,CLIENT_CERT,CLIENT_KEY]
    parts = spec.split(",")
    if len(parts) not in (4, 6):
        sys.exit(f"--tls-cluster wants NAME,HOST:PORT,SNI,CA[,CERT,KEY], got {spec}")
    name, addr, sni, ca = parts[:4]
    host, port = addr.rsplit(":", 1)
    certs = "[]"
    if len(parts) == 6:
        certs = "[{certificate_chain: {filename: %s}, private_key: {filename: %s}}]" % (
            json.dumps(parts[4]), json.dumps(parts[5]))
    return render("cluster-tls.yaml.tmpl", {"NAME": name, "HOST": host, "PORT": port,
                                             "SNI": sni, "CA": ca, "TLS_CERTIFICATES": certs})


def plain_cluster(spec: str) -> str:
    name, addr = spec.split(",")
    host, port = addr.rsplit(":", 1)
    return render("cluster-plain.yaml.tmpl", {"NAME": name, "HOST": host, "PORT": port})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--admin-port", default="9901")
    p.add_argument("--tls-port", default="8443")
    p.add_argument("--plain-port", default="8080")
    p.add_argument("--shim-port", default="0")
    p.add_argument("--server-cert", required=True)
    p.add_argument("--server-key", required=True)
    p.add_argument("--wasm", required=True)
    p.add_argument("--gate-config", required=True, help="file holding the filter's JSON config")
    p.add_argument("--default-cluster", default="upstream-default")
    p.add_argument("--tls-cluster", action="append", default=[])
    p.add_argument("--plain-cluster", action="append", default=[])
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()

    gate = pathlib.Path(a.gate_config).read_text()
    json.loads(gate)  # fail here, not inside Envoy, on a JSON typo
    clusters = "".join([tls_cluster(s) for s in a.tls_cluster] + [plain_cluster(s) for s in a.plain_cluster])
    yaml = render("envoy.yaml.tmpl", {
        "ADMIN_PORT": a.admin_port, "TLS_PORT": a.tls_port, "PLAIN_PORT": a.plain_port,
        "SHIM_PORT": a.shim_port, "SERVER_CERT": a.server_cert, "SERVER_KEY": a.server_key,
        "WASM": a.wasm, "GATE_CONFIG": json.dumps(gate.strip()),
        "DEFAULT_CLUSTER": a.default_cluster, "CLUSTERS": clusters,
    })
    if not re.search(r"name: \"?%s\"?\n" % re.escape(a.default_cluster), clusters):
        sys.exit(f"default cluster {a.default_cluster} is not among the clusters")
    pathlib.Path(a.output).write_text(yaml)


if __name__ == "__main__":
    main()
