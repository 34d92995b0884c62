#!/usr/bin/env python3
"""Writes the fuzz seeds (fuzz/seeds/<target>/), a few small real inputs per target.

Certificates come from filter/core/src/trust/testdata (public test certificates; their keys
were discarded), plus small hand-written JSON and XFCC. No private key is written: the
`upload` seeds hold certificates and a public key only. `ok-*` seeds must be accepted by their
target and `bad-*` refused (checked by the crates' tests/fuzz_regressions.rs).

Run from anywhere: python3 fuzz/seeds/generate.py (needs the standard library, and cargo for
the postcard seeds of `shared_data`).
"""

import base64
import calendar
import hashlib
import json
import pathlib
import shutil
import struct
import subprocess
import urllib.parse

FUZZ = pathlib.Path(__file__).resolve().parent.parent
REPO = FUZZ.parent
TESTDATA = REPO / "filter/core/src/trust/testdata"
OAS = REPO / "filter/core/src/config/testdata/oas"
SEEDS = FUZZ / "seeds"


def pem(name):
    return (TESTDATA / name).read_text()


def der(name):
    body = "".join(l for l in pem(name).splitlines() if not l.startswith("-----"))
    return base64.b64decode(body)


def fp(data):
    return hashlib.sha256(data).hexdigest()


def tlv(data, at):
    """(tag, start of contents, end of contents) of the DER element at `at`."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[at : at + n], "big")
        at += n
    return tag, at, at + length


def children(data, start, end):
    out = []
    while start < end:
        element = tlv(data, start)
        out.append(element)
        start = element[2]
    return out


def unix(tag, text):
    text = text.decode()
    if tag == 0x17:  # UTCTime: YY < 50 is 20YY (RFC 5280)
        year = int(text[:2])
        text = str(2000 + year if year < 50 else 1900 + year) + text[2:]
    return calendar.timegm(
        (int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14]))
    )


def anchor_parts(name):
    """TrustAnchorParts (filter/core/src/trust/anchor.rs) of a CA without name constraints."""
    data = der(name)
    _, start, end = tlv(data, 0)
    _, tbs_start, tbs_end = children(data, start, end)[0]
    fields = children(data, tbs_start, tbs_end)
    if fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    _serial, _algorithm, _issuer, validity, subject, spki = fields[:6]
    not_before, not_after = children(data, validity[1], validity[2])
    return {
        "subject": base64.b64encode(data[subject[1] : subject[2]]).decode(),
        "spki": base64.b64encode(data[spki[1] : spki[2]]).decode(),
        "not_before": unix(not_before[0], data[not_before[1] : not_before[2]]),
        "not_after": unix(not_after[0], data[not_after[1] : not_after[2]]),
        "fingerprint": fp(data),
    }


def der_length(n):
    return bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")


def spki_of(name):
    """The SubjectPublicKeyInfo of a certificate, whole (tag and length included)."""
    data = der(name)
    _, start, end = tlv(data, 0)
    _, tbs_start, tbs_end = children(data, start, end)[0]
    fields = children(data, tbs_start, tbs_end)
    if fields[0][0] == 0xA0:
        fields = fields[1:]
    _, start, end = fields[5]
    return b"\x30" + der_length(end - start) + data[start:end]


def records(flags, *ders):
    return bytes([flags]) + b"".join(struct.pack(">H", len(d)) + d for d in ders)


def write(target, name, content):
    path = SEEDS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def main():
    for target in SEEDS.iterdir():
        if target.is_dir():
            shutil.rmtree(target)
    # shared_data's values are postcard: the core writes those seeds from its own types.
    subprocess.run(
        ["cargo", "test", "-q", "-p", "mtls-gate-core", "--lib", "write_shared_data_fuzz_seeds", "--", "--ignored"],
        cwd=REPO,
        check=True,
    )

    ec_chain = pem("ec-leaf.crt") + pem("ec-intermediate.crt") + pem("ec-root.crt")
    leaf = pem("ed25519-leaf.crt")
    # The leaf's public key (no private key): what `openssl x509 -pubkey -noout` prints.
    spki_der = spki_of("ed25519-leaf.crt")
    public_key = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(spki_der).decode() + "\n-----END PUBLIC KEY-----\n"

    # pem: framing and bundles.
    write("pem", "ok-ec-chain.pem.txt", ec_chain)
    write("pem", "ok-pss-root.crt", pem("pss-root.crt"))
    write("pem", "ok-crlf.pem.txt", leaf.replace("\n", "\r\n"))
    write("pem", "ok-one-line.pem.txt", leaf.replace("\n", " "))
    write("pem", "ok-public-key.pem.txt", public_key)
    write("pem", "bad-mismatched-end.pem.txt", leaf.replace("END CERTIFICATE", "END PUBLIC KEY"))
    write("pem", "bad-no-end.pem.txt", leaf.split("-----END")[0])

    # certificate: DER.
    for name in ["ec-root", "ec-intermediate", "ec-leaf", "ed25519-leaf", "pss-sha256-leaf"]:
        write("certificate", f"ok-{name}.der", der(f"{name}.crt"))
    write("certificate", "bad-truncated.der", der("ec-leaf.crt")[:100])

    # chain: flags byte, then u16-length-prefixed DER (core_targets::chain).
    write("chain", "ok-ec.bin", records(0, der("ec-leaf.crt"), der("ec-intermediate.crt")))
    write("chain", "ok-ed25519.bin", records(0, der("ed25519-leaf.crt")))
    write("chain", "ok-pss-sha512.bin", records(0, der("pss-sha512-leaf.crt")))
    write("chain", "ok-extra-anchor.bin", records(1 | 8, der("ed25519-root.crt"), der("ed25519-leaf.crt")))
    write("chain", "bad-missing-intermediate.bin", records(0, der("ec-leaf.crt")))
    write("chain", "bad-at-1970.bin", records(1 << 1, der("ed25519-leaf.crt")))

    # xfcc: Envoy's header, URL-encoded PEM in Cert and Chain.
    quote = lambda text: urllib.parse.quote(text, safe="")
    ec_leaf = pem("ec-leaf.crt")
    own = (
        f'Hash={fp(der("ec-leaf.crt"))};Cert="{quote(ec_leaf)}";'
        f'Chain="{quote(ec_leaf + pem("ec-intermediate.crt"))}";Subject="CN=ec client";URI=;DNS=client.test'
    )
    write("xfcc", "ok-envoy-element.txt", own)
    write("xfcc", "ok-appended.txt", f'By=spiffe://front;Hash={fp(b"x")};Subject="CN=x,O=y;z",{own}')
    write("xfcc", "bad-hash-only.txt", f'Hash={fp(der("ec-leaf.crt"))};Subject="CN=admin"')
    write("xfcc", "bad-garbage-cert.txt", 'Cert="%ZZ";Chain="not pem"')

    # config: Classic and OAS API definitions (Tyk's names).
    store = {"cluster": "shim", "authority": "shim.local", "token": "t"}
    sample = json.loads((REPO / "filter/core/tests/fixtures/app_sample.json").read_text())
    leaf_fp = fp(der("ec-leaf.crt"))
    write("config", "ok-empty.json", "{}")
    write("config", "ok-classic-tyk-sample.json", json.dumps({"apis": [sample]}))
    write(
        "config",
        "ok-classic-store-and-global.json",
        json.dumps(
            {
                "org_id": "o1",
                "default": "deny",
                "security": {"certificates": {"apis": [leaf_fp], "upstream": {"*": leaf_fp}}},
                "apis": [
                    {
                        "api_id": "a",
                        "domain": "API.example.com",
                        "use_mutual_tls_auth": True,
                        "client_certificates": None,
                        "auth_configs": {"authToken": {"useCertificate": True, "auth_header_name": "X-Key"}},
                        "proxy": {"listen_path": "/a/", "target_url": "https://up.test:8443"},
                    }
                ],
                "store": store,
            }
        ),
    )
    write(
        "config",
        "ok-classic-inline-ca.json",
        json.dumps(
            {
                "apis": [
                    {
                        "api_id": "ca",
                        "use_mutual_tls_auth": True,
                        "client_certificates": [pem("ec-root.crt")],
                        "proxy": {"listen_path": "/ca/", "target_url": "http://up.test"},
                    }
                ]
            }
        ),
    )
    for name in ["static-mtls", "certificate-auth", "upstream-mtls-and-pinning"]:
        oas = json.loads((OAS / f"{name}.oas.json").read_text())
        write("config", f"ok-oas-{name}.json", json.dumps({"store": store, "apis": [oas]}))
    write("config", "bad-listen-path-type.json", json.dumps({"apis": [{"api_id": "a", "proxy": {"listen_path": 5}}]}))

    # change_feed, shared_data, lookup_answer: the feed's JSON (filter/core/src/feed.rs).
    anchor = anchor_parts("ec-root.crt")
    ca_entry = {
        "id": "org1" + anchor["fingerprint"],
        "fingerprint": anchor["fingerprint"],
        "not_after": anchor["not_after"],
        "has_private": False,
        "is_ca": True,
        "trust_anchor": anchor,
    }
    leaf_entry = {"id": "org1" + leaf_fp, "fingerprint": leaf_fp, "not_after": 1900000000, "has_private": True, "is_ca": False}
    grant = {"alias": "client", "expires": 0, "is_inactive": False, "api_ids": ["api1"]}
    write(
        "change_feed",
        "ok-incremental.json",
        json.dumps(
            {
                "version": 4294967301,
                "full": False,
                "certs": [leaf_entry],
                "removed_certs": ["gone"],
                "sessions": [{"key": "org1" + leaf_fp, "grant": grant}],
                "removed_sessions": ["org1old"],
            }
        ),
    )
    write(
        "change_feed",
        "ok-snapshot-with-anchor.json",
        json.dumps({"version": 7, "full": True, "certs": [ca_entry, leaf_entry], "removed_certs": [], "sessions": [], "removed_sessions": []}),
    )
    write("change_feed", "bad-fingerprint.json", json.dumps({"version": 1, "full": False, "certs": [dict(leaf_entry, fingerprint="e3:b0")], "removed_certs": [], "sessions": [], "removed_sessions": []}))

    write("shared_data", "ok-lease.txt", "7:1893456000500")
    write("shared_data", "bad-tombstone.txt", "-")

    write("lookup_answer", "ok-found.json", json.dumps({"key": "org1" + leaf_fp, "session": grant, "cert": leaf_entry}))
    write("lookup_answer", "ok-not-found.json", json.dumps({"key": "org1" + leaf_fp, "session": None, "cert": None}))
    write("lookup_answer", "bad-truncated.json", json.dumps({"key": "k", "session": grant})[:-10])

    # upload: what POST /tyk/certs receives.
    write("upload", "ok-ec-chain.pem.txt", ec_chain)
    write("upload", "ok-ed25519-leaf.crt", leaf)
    write("upload", "ok-public-key.pem.txt", public_key)
    write("upload", "bad-der.der", der("ec-leaf.crt"))
    write("upload", "bad-csr.pem.txt", "-----BEGIN CERTIFICATE REQUEST-----\nYWJj\n-----END CERTIFICATE REQUEST-----\n")
    write("upload", "bad-not-pem.txt", "hello")

    # private_key: no private key is ever committed, so the seeds are what surrounds one: the
    # certificate side (SubjectPublicKeyInfos: Ed25519, P-256, P-384, RSA) and PKCS#8 / SEC1
    # envelopes with an empty key.
    write("private_key", "ok-ed25519-spki.der", spki_of("ed25519-leaf.crt"))
    write("private_key", "ok-p256-spki.der", spki_of("ec-intermediate.crt"))
    write("private_key", "ok-p384-spki.der", spki_of("ec-root.crt"))
    write("private_key", "ok-rsa-spki.der", spki_of("pss-root.crt"))
    ed25519 = bytes.fromhex("06032b6570")
    rsa = bytes.fromhex("06092a864886f70d010101")
    p256 = bytes.fromhex("06082a8648ce3d030107")
    seq = lambda body: b"\x30" + der_length(len(body)) + body
    write("private_key", "bad-pkcs8-ed25519-no-key.der", seq(b"\x02\x01\x00" + seq(ed25519) + b"\x04\x00"))
    write("private_key", "bad-pkcs8-rsa-no-key.der", seq(b"\x02\x01\x00" + seq(rsa + b"\x05\x00") + b"\x04\x00"))
    write("private_key", "bad-sec1-p256-no-key.der", seq(b"\x02\x01\x01\x04\x00\xa0\x0a" + p256))


if __name__ == "__main__":
    main()
