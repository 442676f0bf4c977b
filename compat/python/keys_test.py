"""Keys and cryptography through the official Azure SDK for Python, unmodified.

Runs against a live Coffer server described by the bootstrap file named in
COFFER_BOOTSTRAP (written by `coffer serve --dev`). Uses Debian's
python3-azure (azure-keyvault-keys, azure-identity) from /usr/bin/python3.

Set-up A (default): the pool is reached by host name under the audience's
domain, so the SDK's challenge-resource verification passes unchanged.
Set-up C (COFFER_SETUP=C): the pool is reached by IP address, which needs
verify_challenge_resource=False.
"""

import base64
import hashlib
import json
import os
import secrets
import subprocess
import tempfile
import time
import unittest
import uuid

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.keys import (
    JsonWebKey,
    KeyClient,
    KeyCurveName,
    KeyOperation,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
    KeyType,
    KeyVaultKey,
)
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

BOOT = json.load(open(os.environ["COFFER_BOOTSTRAP"]))
SETUP = os.environ.get("COFFER_SETUP", "A")
URL = BOOT["hsmUrl"] if SETUP == "A" else BOOT["hsmUrlByAddress"]
VERIFY = SETUP == "A"
CA = BOOT["caFile"]


def credential():
    return ClientSecretCredential(
        BOOT["tenantId"], BOOT["clientId"], BOOT["clientSecret"],
        authority=BOOT["authorityHost"], instance_discovery=False, connection_verify=CA,
    )


def key_client():
    return KeyClient(URL, credential(), verify_challenge_resource=VERIFY, connection_verify=CA)


def crypto_client(key):
    return CryptographyClient(key, credential(), verify_challenge_resource=VERIFY, connection_verify=CA)


def service_crypto_client(key):
    """A CryptographyClient that sends every operation to the service.

    This SDK's CryptographyClient does symmetric operations (AES-CBC, AES-KW)
    locally whenever the key allows them, and for an oct-HSM key, whose
    material the service never returns, it does them with a random key of its
    own: ciphertexts the service cannot open. Handing it the key with no
    permitted operations keeps every call on the service.
    """
    shell = KeyVaultKey(key.id, jwk={"kid": key.id, "kty": "oct-HSM", "key_ops": []})
    return CryptographyClient(shell, credential(), verify_challenge_resource=VERIFY, connection_verify=CA)


def name(prefix):
    return f"py{SETUP.lower()}-{prefix}-{uuid.uuid4().hex[:10]}"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


class KeysTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kc = key_client()

    def test_rsa_lifecycle_and_every_rsa_algorithm(self):
        for size in (2048, 3072, 4096):
            n = name(f"rsa{size}")
            key = self.kc.create_rsa_key(n, size=size, hardware_protected=True, tags={"size": str(size)})
            self.assertEqual(key.key_type, KeyType.rsa_hsm)
            self.assertEqual(key.key.n.__len__() * 8, size)
            self.assertEqual(key.properties.tags, {"size": str(size)})
            cc = crypto_client(key)
            for alg in (EncryptionAlgorithm.rsa_oaep, EncryptionAlgorithm.rsa_oaep_256, EncryptionAlgorithm.rsa1_5):
                # Python encrypts locally with the returned public key; the
                # server decrypts: this is the local-encrypt/remote-decrypt interop.
                pt = secrets.token_bytes(32)
                enc = cc.encrypt(alg, pt)
                self.assertEqual(cc.decrypt(alg, enc.ciphertext).plaintext, pt)
            for alg in (KeyWrapAlgorithm.rsa_oaep, KeyWrapAlgorithm.rsa_oaep_256, KeyWrapAlgorithm.rsa1_5):
                cek = secrets.token_bytes(32)
                w = cc.wrap_key(alg, cek)
                self.assertEqual(cc.unwrap_key(alg, w.encrypted_key).key, cek)
            for bits in ("256", "384", "512"):
                for family in ("RS", "PS"):
                    alg = SignatureAlgorithm(family + bits)
                    digest = hashlib.new("sha" + bits, b"coffer").digest()
                    sig = cc.sign(alg, digest)
                    self.assertTrue(cc.verify(alg, digest, sig.signature).is_valid)
                    self.assertFalse(cc.verify(alg, hashlib.new("sha" + bits, b"other").digest(), sig.signature).is_valid)
                    # Verify with the cryptography package as an independent check.
                    pub = rsa.RSAPublicNumbers(int.from_bytes(key.key.e, "big"), int.from_bytes(key.key.n, "big")).public_key()
                    pad = padding.PKCS1v15() if family == "RS" else padding.PSS(padding.MGF1(HASHES[bits]), len(digest))
                    pub.verify(sig.signature, digest, pad, utils.Prehashed(HASHES[bits]))

    def test_ec_every_curve(self):
        for crv, alg, bits in (
            (KeyCurveName.p_256, SignatureAlgorithm.es256, "256"),
            (KeyCurveName.p_256_k, SignatureAlgorithm.es256_k, "256"),
            (KeyCurveName.p_384, SignatureAlgorithm.es384, "384"),
            (KeyCurveName.p_521, SignatureAlgorithm.es512, "512"),
        ):
            key = self.kc.create_ec_key(name("ec"), curve=crv, hardware_protected=True)
            self.assertEqual(key.key_type, KeyType.ec_hsm)
            self.assertEqual(key.key.crv, crv)
            cc = crypto_client(key)
            digest = hashlib.new("sha" + bits, b"coffer ec").digest()
            sig = cc.sign(alg, digest)
            self.assertTrue(cc.verify(alg, digest, sig.signature).is_valid)
            curve = {"P-256": ec.SECP256R1(), "P-256K": ec.SECP256K1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[crv.value]
            pub = ec.EllipticCurvePublicNumbers(int.from_bytes(key.key.x, "big"), int.from_bytes(key.key.y, "big"), curve).public_key()
            half = len(sig.signature) // 2
            der = utils.encode_dss_signature(int.from_bytes(sig.signature[:half], "big"), int.from_bytes(sig.signature[half:], "big"))
            pub.verify(der, digest, ec.ECDSA(utils.Prehashed(HASHES[bits])))

    def test_oct_every_aes_algorithm(self):
        for size in (128, 192, 256):
            key = self.kc.create_oct_key(name(f"aes{size}"), size=size, hardware_protected=True)
            self.assertEqual(key.key_type, KeyType.oct_hsm)
            cc = service_crypto_client(key)
            pt = b"coffer says hello to the python sdk"
            gcm = EncryptionAlgorithm(f"A{size}GCM")
            enc = cc.encrypt(gcm, pt, additional_authenticated_data=b"aad")
            self.assertEqual(len(enc.iv), 12)
            self.assertEqual(cc.decrypt(gcm, enc.ciphertext, iv=enc.iv, authentication_tag=enc.tag, additional_authenticated_data=b"aad").plaintext, pt)
            iv = secrets.token_bytes(16)
            cbcpad = EncryptionAlgorithm(f"A{size}CBCPAD")
            enc = cc.encrypt(cbcpad, pt, iv=iv)
            self.assertEqual(cc.decrypt(cbcpad, enc.ciphertext, iv=iv).plaintext, pt)
            cbc = EncryptionAlgorithm(f"A{size}CBC")
            block = pt[:32]
            enc = cc.encrypt(cbc, block, iv=iv)
            self.assertEqual(cc.decrypt(cbc, enc.ciphertext, iv=iv).plaintext, block)
            kw = KeyWrapAlgorithm(f"A{size}KW")
            cek = secrets.token_bytes(32)
            w = cc.wrap_key(kw, cek)
            self.assertEqual(cc.unwrap_key(kw, w.encrypted_key).key, cek)

    def test_import_update_versions_rotation(self):
        n = name("imp")
        priv = ec.generate_private_key(ec.SECP256R1())
        nums = priv.private_numbers()
        jwk = JsonWebKey(kty=KeyType.ec, crv=KeyCurveName.p_256, d=nums.private_value.to_bytes(32, "big"),
                         x=nums.public_numbers.x.to_bytes(32, "big"), y=nums.public_numbers.y.to_bytes(32, "big"),
                         key_ops=["sign", "verify"])
        key = self.kc.import_key(n, jwk)
        self.assertEqual(key.key_type, KeyType.ec_hsm)
        # A signature made in the pool verifies against the imported private key's public half.
        digest = hashlib.sha256(b"imported").digest()
        sig = crypto_client(key).sign(SignatureAlgorithm.es256, digest).signature
        der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        priv.public_key().verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))

        oct_key = self.kc.import_key(name("impoct"), JsonWebKey(kty=KeyType.oct, k=secrets.token_bytes(32),
                                                                 key_ops=["encrypt", "decrypt"]))
        self.assertEqual(oct_key.key_type, KeyType.oct_hsm)
        self.assertIsNone(oct_key.key.k)

        updated = self.kc.update_key_properties(n, enabled=False, tags={"state": "off"})
        self.assertFalse(updated.properties.enabled)
        with self.assertRaises(HttpResponseError) as cm:
            crypto_client(updated).sign(SignatureAlgorithm.es256, digest)
        self.assertEqual(cm.exception.status_code, 403)
        self.kc.update_key_properties(n, enabled=True)

        policy = self.kc.update_key_rotation_policy(n, KeyRotationPolicy(
            lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P90D")],
            expires_in="P1Y"))
        self.assertEqual(policy.expires_in, "P1Y")
        got = self.kc.get_key_rotation_policy(n)
        self.assertEqual(got.lifetime_actions[0].time_after_create, "P90D")
        rotated = self.kc.rotate_key(n)
        self.assertNotEqual(rotated.properties.version, key.properties.version)
        self.assertIsNotNone(rotated.properties.expires_on)
        versions = list(self.kc.list_properties_of_key_versions(n))
        self.assertEqual({v.version for v in versions}, {key.properties.version, rotated.properties.version})
        self.assertEqual(self.kc.get_key(n, key.properties.version).properties.version, key.properties.version)

    def test_list_paging_delete_recover_purge_backup_restore(self):
        prefix = name("page")
        made = [self.kc.create_ec_key(f"{prefix}-{i}", curve="P-256").name for i in range(30)]
        listed = [k.name for k in self.kc.list_properties_of_keys() if k.name.startswith(prefix)]
        self.assertEqual(sorted(listed), sorted(made))  # needs more than one 25-item page

        n = made[0]
        backup = self.kc.backup_key(n)
        deleted = self.kc.begin_delete_key(n).result()
        self.assertTrue(deleted.recovery_id.endswith("/deletedkeys/" + n))
        self.assertIsNotNone(deleted.scheduled_purge_date)
        self.assertEqual(self.kc.get_deleted_key(n).name, n)
        self.assertIn(n, [d.name for d in self.kc.list_deleted_keys()])
        with self.assertRaises(ResourceNotFoundError):
            self.kc.get_key(n)
        with self.assertRaises(ResourceExistsError):
            self.kc.create_ec_key(n)
        recovered = self.kc.begin_recover_deleted_key(n).result()
        self.assertEqual(recovered.name, n)
        self.kc.begin_delete_key(n).result()
        self.kc.purge_deleted_key(n)
        with self.assertRaises(ResourceNotFoundError):
            self.kc.get_deleted_key(n)
        restored = self.kc.restore_key_backup(backup)
        self.assertEqual(restored.name, n)

    def test_random_bytes(self):
        b = self.kc.get_random_bytes(32)
        self.assertEqual(len(b), 32)
        self.assertNotEqual(b, self.kc.get_random_bytes(32))

    def test_errors_are_azure_shaped(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.kc.get_key(name("missing"))
        self.assertIn("KeyNotFound", str(cm.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
