"""Generates vectors.json: outputs of pyca/cryptography, an implementation
independent of Go's, for the jwa tests.

  - CKM_RSA_AES_KEY_WRAP blobs built the way BYOK tooling builds them
    (RSA-OAEP of an ephemeral AES key, then RFC 5649 key wrap with padding
    of the target key), for RSA, EC (P-256, P-384, P-521, P-256K) and oct
    targets, OAEP with SHA-1, SHA-256 and SHA-384, and ephemeral AES keys of
    128, 192 and 256 bits;
  - HMAC-SHA-256/384/512 tags under 16-, 24- and 32-byte keys;
  - ECDSA secp256k1 signatures (SHA-256 digests, converted to raw r||s),
    including high-S ones, which pyca does not normalise.

Run with: python3 gen.py > vectors.json
"""
import hashlib
import hmac
import json
import os
import sys

import cryptography
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def pkcs8(key):
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def main():
    kek = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    targets = [
        ("RSA", "", pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=2048))),
        ("EC", "P-256", pkcs8(ec.generate_private_key(ec.SECP256R1()))),
        ("EC", "P-384", pkcs8(ec.generate_private_key(ec.SECP384R1()))),
        ("EC", "P-521", pkcs8(ec.generate_private_key(ec.SECP521R1()))),
        ("EC", "P-256K", pkcs8(ec.generate_private_key(ec.SECP256K1()))),
        ("oct", "", os.urandom(32)),
        ("oct", "", os.urandom(16)),
    ]
    hashes_ = [("SHA-1", hashes.SHA1()), ("SHA-256", hashes.SHA256()), ("SHA-384", hashes.SHA384())]
    byok = []
    for i, (kty, crv, plain) in enumerate(targets):
        for j, (hname, h) in enumerate(hashes_):
            eph = os.urandom([16, 24, 32][(i + j) % 3])
            head = kek.public_key().encrypt(
                eph, padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)
            )
            blob = head + aes_key_wrap_with_padding(eph, plain)
            byok.append({"kty": kty, "crv": crv, "hash": hname, "ephemeralBits": len(eph) * 8,
                         "blob": blob.hex(), "plaintext": plain.hex()})

    macs = []
    for alg, fn in [("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)]:
        for klen in (16, 24, 32):
            for mlen in (0, 32, 100):
                key, msg = os.urandom(klen), os.urandom(mlen)
                macs.append({"alg": alg, "key": key.hex(), "msg": msg.hex(),
                             "mac": hmac.new(key, msg, fn).hexdigest()})

    k1 = ec.generate_private_key(ec.SECP256K1())
    nums = k1.public_key().public_numbers()
    sigs, high, low = [], 0, 0
    while len(sigs) < 8 or high < 3 or low < 3:
        msg = os.urandom(40)
        r, s = utils.decode_dss_signature(k1.sign(msg, ec.ECDSA(hashes.SHA256())))
        is_high = s > SECP256K1_N // 2
        if (is_high and high >= 4) or (not is_high and low >= 4):
            continue
        high, low = high + is_high, low + (not is_high)
        sigs.append({"digest": hashlib.sha256(msg).hexdigest(), "highS": is_high,
                     "sig": r.to_bytes(32, "big").hex() + s.to_bytes(32, "big").hex()})

    json.dump({
        "generator": "pyca/cryptography " + cryptography.__version__,
        "kekPkcs8": pkcs8(kek).hex(),
        "byok": byok,
        "hmac": macs,
        "es256k": {"x": nums.x.to_bytes(32, "big").hex(), "y": nums.y.to_bytes(32, "big").hex(), "tests": sigs},
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
