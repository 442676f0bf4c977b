"""Signatures made by Coffer verify with openssl.

Creates RSA and EC keys through the Python SDK, signs a message digest in
the pool, and has the openssl command line verify each signature against
the key's public half exported as PEM: RS256 (PKCS#1 v1.5), PS256 (PSS,
salt = hash length) and ES256/ES384 (converted from the wire's raw r||s to
the DER form openssl expects).
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import uuid

from azure.identity import ClientSecretCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

boot = json.load(open(os.environ["COFFER_BOOTSTRAP"]))
cred = ClientSecretCredential(boot["tenantId"], boot["clientId"], boot["clientSecret"],
                              authority=boot["authorityHost"], instance_discovery=False, connection_verify=boot["caFile"])
kc = KeyClient(boot["hsmUrl"], cred, connection_verify=boot["caFile"])
work = tempfile.mkdtemp()
message = b"coffer signs, openssl verifies"
msg_path = os.path.join(work, "message")
open(msg_path, "wb").write(message)


def write_pem(pub, path):
    open(path, "wb").write(pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def openssl(*args):
    r = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if r.returncode != 0 or "Verified OK" not in r.stdout + r.stderr and "Signature Verified Successfully" not in r.stdout + r.stderr:
        sys.exit(f"openssl {' '.join(args)} failed: {r.stdout}{r.stderr}")


key = kc.create_rsa_key(f"ossl-rsa-{uuid.uuid4().hex[:8]}", size=2048)
pub = rsa.RSAPublicNumbers(int.from_bytes(key.key.e, "big"), int.from_bytes(key.key.n, "big")).public_key()
pem = os.path.join(work, "rsa.pem")
write_pem(pub, pem)
cc = CryptographyClient(key, cred, connection_verify=boot["caFile"])
digest = hashlib.sha256(message).digest()
for alg, extra in ((SignatureAlgorithm.rs256, []), (SignatureAlgorithm.ps256, ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"])):
    sig_path = os.path.join(work, f"{alg.value}.sig")
    open(sig_path, "wb").write(cc.sign(alg, digest).signature)
    openssl("dgst", "-sha256", "-verify", pem, *extra, "-signature", sig_path, msg_path)
    print(f"openssl verified {alg.value}")

for crv, alg, h in (("P-256", SignatureAlgorithm.es256, "sha256"), ("P-384", SignatureAlgorithm.es384, "sha384")):
    key = kc.create_ec_key(f"ossl-ec-{uuid.uuid4().hex[:8]}", curve=crv)
    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}[crv]
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(key.key.x, "big"), int.from_bytes(key.key.y, "big"), curve).public_key()
    pem = os.path.join(work, f"{crv}.pem")
    write_pem(pub, pem)
    raw = CryptographyClient(key, cred, connection_verify=boot["caFile"]).sign(alg, hashlib.new(h, message).digest()).signature
    half = len(raw) // 2
    der = utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    sig_path = os.path.join(work, f"{alg.value}.sig")
    open(sig_path, "wb").write(der)
    openssl("dgst", f"-{h}", "-verify", pem, "-signature", sig_path, msg_path)
    print(f"openssl verified {alg.value}")
