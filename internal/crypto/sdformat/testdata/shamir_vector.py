"""Writes shamir_vector.json, a Shamir known-answer vector made with the Azure
CLI's own security-domain modules (Debian package azure-cli):

    /usr/bin/python3 shamir_vector.py > shamir_vector.json

Every secret byte is shared with the CLI's ByteShares, whose random
coefficients (highest degree first) are drawn here from a seeded generator
instead of the secrets module, with 0 and 256 forced for the first bytes.
The CLI's SharedSecret encoder is not used: it reuses one polynomial for all
bytes, and its Share.to_uint16 shifts x by 8 where the decoder
(Share.from_uint16) reads 9. Elements are written as the decoder reads them,
little-endian (x << 9) | v, and every quorum of the shares, in every order,
is checked to decode to the secret with SharedSecret.get_plaintext.
"""

import array
import itertools
import json
import random
import sys

from azure.cli.command_modules.keyvault.security_domain.byte_shares import ByteShares
from azure.cli.command_modules.keyvault.security_domain.mod_math import ModMath
from azure.cli.command_modules.keyvault.security_domain.shared_secret import SharedSecret

N, QUORUM = 5, 3
rng = random.Random(20261122)
secret = bytes([0x00, 0xFF, 0x01, 0x80] + [rng.randrange(256) for _ in range(28)])
edges = [[0, 0], [256, 256], [0, 256], [256, 0]]

coefficients = []
elements = [[] for _ in range(N)]
for i, b in enumerate(secret):
    cs = edges[i] if i < len(edges) else [rng.randrange(257) for _ in range(QUORUM - 1)]
    draw = iter(cs)
    ModMath.get_random = staticmethod(lambda: next(draw))
    bs = ByteShares(QUORUM, b)
    assert list(bs.coefficients) == cs + [b]
    coefficients.append(cs)
    for x in range(1, N + 1):
        s = bs.make_share(x)
        assert s.x == x and 0 <= s.v <= 256
        elements[x - 1].append((s.x << 9) | s.v)


def decode(holders, required):
    arrays = [array.array("H", elements[h - 1]) for h in holders]
    try:
        return bytes(SharedSecret.get_plaintext(arrays, required))
    except ValueError:  # a result of 256 does not fit in a byte
        return None


for holders in itertools.permutations(range(1, N + 1), QUORUM):
    assert decode(holders, QUORUM) == secret, holders
fewer = decode([2, 5], 2)
assert fewer != secret

json.dump({
    "n": N,
    "quorum": QUORUM,
    "secret": secret.hex(),
    "coefficients": coefficients,
    "shares": [b"".join(w.to_bytes(2, "little") for w in e).hex() for e in elements],
    "fewer": {"holders": [2, 5], "result": fewer.hex() if fewer is not None else None},
}, sys.stdout)
sys.stdout.write("\n")
