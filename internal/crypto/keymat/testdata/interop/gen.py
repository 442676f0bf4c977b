"""Generates keys.json: private keys made by pyca/cryptography (OpenSSL
underneath), an implementation independent of Go's, each as PKCS#8 DER and
as the members of the matching JWK (big-endian, EC members at the curve's
full length), for the keymat import tests.

Run with: python3 gen.py > keys.json
"""
import json
import sys

import cryptography
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def be(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return n.to_bytes(size, "big").hex()


def pkcs8(key):
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).hex()


def main():
    keys = []
    for bits in (2048, 3072, 4096):
        k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        p = k.private_numbers()
        keys.append({"name": "RSA %d" % bits, "kty": "RSA", "pkcs8": pkcs8(k), "jwk": {
            "kty": "RSA", "n": be(p.public_numbers.n), "e": be(p.public_numbers.e), "d": be(p.d),
            "p": be(p.p), "q": be(p.q), "dp": be(p.dmp1), "dq": be(p.dmq1), "qi": be(p.iqmp)}})
    for crv, curve, size in (("P-256", ec.SECP256R1(), 32), ("P-256K", ec.SECP256K1(), 32),
                             ("P-384", ec.SECP384R1(), 48), ("P-521", ec.SECP521R1(), 66)):
        k = ec.generate_private_key(curve)
        p = k.private_numbers()
        keys.append({"name": "EC " + crv, "kty": "EC", "crv": crv, "pkcs8": pkcs8(k), "jwk": {
            "kty": "EC", "crv": crv, "d": be(p.private_value, size),
            "x": be(p.public_numbers.x, size), "y": be(p.public_numbers.y, size)}})
    json.dump({"generator": "pyca/cryptography " + cryptography.__version__, "keys": keys},
              sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
