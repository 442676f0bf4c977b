"""The disaster-recovery drill's client side, with the official Python SDK.

compat/dr.sh runs the servers and the coffer CLI; this script does what an
application and an administrator do with the pool, one phase per call:

  populate   keys of every type (with a rotated version, tags and a
             soft-deleted key), ciphertexts, wrapped keys, signatures and
             a custom role with an assignment; all written to the state file
  backup     a full backup to the blob container (KeyVaultBackupClient)
  restore    a full restore of that backup's folder
  refused    a full restore that must fail (another security domain)
  verify     every old ciphertext decrypts, every wrapped key unwraps, every
             signature verifies, tags, versions, the deleted key and the role
             assignment are back
  selective  a selective restore of one key, whose old signature verifies
  inactive   every data-plane call is refused while the pool is not active

Environment: DR_URL (pool URL), DR_TENANT, DR_CLIENT_ID, DR_SECRET,
DR_AUTHORITY, DR_CA, DR_STATE (JSON state file), DR_CONTAINER, DR_SAS.
"""

import base64
import hashlib
import json
import logging
import os
import sys
import uuid

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultBackupClient,
    KeyVaultDataAction,
    KeyVaultPermission,
    KeyVaultRoleScope,
)
from azure.keyvault.keys import KeyClient, KeyVaultKey
from azure.keyvault.keys.crypto import (
    CryptographyClient,
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)

# The SDK warns each time it tries a symmetric operation locally and falls
# back to the service (see crypto below).
logging.getLogger("azure.keyvault.keys.crypto").setLevel(logging.ERROR)

URL = os.environ["DR_URL"]
CA = os.environ["DR_CA"]
STATE = os.environ["DR_STATE"]

RSA = [2048, 3072, 4096]
EC = {"P-256": ("ES256", hashlib.sha256), "P-256K": ("ES256K", hashlib.sha256),
      "P-384": ("ES384", hashlib.sha384), "P-521": ("ES512", hashlib.sha512)}
OCT = {128: "A128KW", 192: "A192KW", 256: "A256KW"}


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s)


def cred():
    return ClientSecretCredential(os.environ["DR_TENANT"], os.environ["DR_CLIENT_ID"], os.environ["DR_SECRET"],
                                  authority=os.environ["DR_AUTHORITY"], instance_discovery=False, connection_verify=CA)


def keys():
    return KeyClient(URL, cred(), connection_verify=CA)


def crypto(name, version):
    # The key's id on this pool, whichever pool made the ciphertext.
    kid = f"{URL}/keys/{name}/{version}"
    if name.startswith("oct-"):
        # This SDK does symmetric operations locally when the key allows
        # them, and for an oct-HSM key (whose material the service never
        # returns) with a random key of its own; a key with no permitted
        # operations keeps every call on the service.
        return CryptographyClient(KeyVaultKey(kid, jwk={"kid": kid, "kty": "oct-HSM", "key_ops": []}), cred(), connection_verify=CA)
    return CryptographyClient(kid, cred(), connection_verify=CA)


def fail(msg):
    print(f"dr drill: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def populate():
    kc = keys()
    state = {"keys": {}, "deleted": "retired", "role": None}
    for bits in RSA:
        name = f"rsa-{bits}"
        k = kc.create_rsa_key(name, size=bits, hardware_protected=True, tags={"owner": "payments", "bits": str(bits)})
        cc = crypto(name, k.properties.version)
        pt = os.urandom(32)
        digest = hashlib.sha256(pt).digest()
        state["keys"][name] = {
            "version": k.properties.version, "tags": k.properties.tags,
            "encrypt": {"alg": "RSA-OAEP-256", "pt": b64(pt), "ct": b64(cc.encrypt(EncryptionAlgorithm.rsa_oaep_256, pt).ciphertext)},
            "wrap": {"alg": "RSA-OAEP", "pt": b64(pt), "ct": b64(cc.wrap_key(KeyWrapAlgorithm.rsa_oaep, pt).encrypted_key)},
            "sign": {"alg": "PS256", "digest": b64(digest), "sig": b64(cc.sign(SignatureAlgorithm.ps256, digest).signature)},
        }
    for crv, (alg, h) in EC.items():
        name = "ec-" + crv.lower().replace("-", "")
        k = kc.create_ec_key(name, curve=crv, hardware_protected=True)
        digest = h(name.encode()).digest()
        sig = crypto(name, k.properties.version).sign(SignatureAlgorithm(alg), digest).signature
        state["keys"][name] = {"version": k.properties.version, "tags": {},
                               "sign": {"alg": alg, "digest": b64(digest), "sig": b64(sig)}}
    for bits, alg in OCT.items():
        name = f"oct-{bits}"
        k = kc.create_oct_key(name, size=bits, hardware_protected=True)
        cc = crypto(name, k.properties.version)
        pt = os.urandom(32)
        entry = {"version": k.properties.version, "tags": {},
                 "wrap": {"alg": alg, "pt": b64(pt), "ct": b64(cc.wrap_key(KeyWrapAlgorithm(alg), pt).encrypted_key)}}
        if bits == 256:
            r = cc.encrypt(EncryptionAlgorithm.a256_gcm, pt, additional_authenticated_data=b"dr")
            entry["gcm"] = {"pt": b64(pt), "ct": b64(r.ciphertext), "iv": b64(r.iv), "tag": b64(r.tag)}
        state["keys"][name] = entry

    # A rotated key: its old version must still decrypt after recovery.
    old = state["keys"]["rsa-2048"]
    new = kc.rotate_key("rsa-2048")
    state["rotated"] = {"name": "rsa-2048", "old": old["version"], "new": new.properties.version}
    kc.create_ec_key(state["deleted"], curve="P-256")
    kc.begin_delete_key(state["deleted"]).result()

    # A custom role and an assignment at one key's scope.
    ac = KeyVaultAccessControlClient(URL, cred(), connection_verify=CA)
    role = ac.set_role_definition(KeyVaultRoleScope.GLOBAL, role_name="dr-signer", description="signs with rsa-3072",
                                  permissions=[KeyVaultPermission(data_actions=[KeyVaultDataAction.SIGN_HSM_KEY])])
    principal = str(uuid.uuid4())
    a = ac.create_role_assignment("/keys/rsa-3072", role.id, principal)
    state["role"] = {"definition": role.name, "assignment": a.name, "principal": principal, "scope": "/keys/rsa-3072"}
    json.dump(state, open(STATE, "w"), indent=1)
    print(f"dr drill: populated {len(state['keys'])} keys, 1 rotated, 1 deleted, 1 custom role assignment")


def backup():
    bc = KeyVaultBackupClient(URL, cred(), connection_verify=CA)
    r = bc.begin_backup(os.environ["DR_CONTAINER"], sas_token=os.environ["DR_SAS"]).result()
    state = json.load(open(STATE))
    state["folder"] = r.folder_url
    json.dump(state, open(STATE, "w"), indent=1)
    print(f"dr drill: backup written to {r.folder_url}")


def restore():
    state = json.load(open(STATE))
    bc = KeyVaultBackupClient(URL, cred(), connection_verify=CA)
    bc.begin_restore(state["folder"], sas_token=os.environ["DR_SAS"]).result()
    print("dr drill: full restore finished")


def refused():
    state = json.load(open(STATE))
    bc = KeyVaultBackupClient(URL, cred(), connection_verify=CA)
    kc = keys()
    before = sorted(p.name for p in kc.list_properties_of_keys())
    try:
        bc.begin_restore(state["folder"], sas_token=os.environ["DR_SAS"]).result()
    except HttpResponseError as e:
        if "SecurityDomainMismatch" not in str(e) and "security domain" not in str(e):
            fail(f"restore into another security domain failed for another reason: {e}")
    else:
        fail("a backup restored into a pool with another security domain")
    if sorted(p.name for p in kc.list_properties_of_keys()) != before:
        fail("a refused restore changed the pool")
    print("dr drill: restore into another security domain refused, pool unchanged")


def verify():
    state = json.load(open(STATE))
    kc = keys()
    checked = 0
    for name, k in state["keys"].items():
        try:
            checked += verify_key(kc, name, k)
        except HttpResponseError as e:
            fail(f"{name}: {e.message}")
    verify_rest(state, kc)
    print(f"dr drill: verified {checked} old ciphertexts, wrapped keys and signatures over {len(state['keys'])} keys;"
          " versions, tags, the deleted key and the role assignment are back")


def verify_key(kc, name, k):
    checked = 0
    got = kc.get_key(name, k["version"])
    if (got.properties.tags or {}) != k["tags"]:
        fail(f"{name}: tags {got.properties.tags}, want {k['tags']}")
    cc = crypto(name, k["version"])
    if "encrypt" in k:
        e = k["encrypt"]
        if cc.decrypt(EncryptionAlgorithm(e["alg"]), unb64(e["ct"])).plaintext != unb64(e["pt"]):
            fail(f"{name}: old ciphertext decrypts to something else")
        checked += 1
    if "wrap" in k:
        w = k["wrap"]
        if cc.unwrap_key(KeyWrapAlgorithm(w["alg"]), unb64(w["ct"])).key != unb64(w["pt"]):
            fail(f"{name}: old wrapped key unwraps to something else")
        checked += 1
    if "gcm" in k:
        g = k["gcm"]
        pt = cc.decrypt(EncryptionAlgorithm.a256_gcm, unb64(g["ct"]), iv=unb64(g["iv"]),
                        authentication_tag=unb64(g["tag"]), additional_authenticated_data=b"dr").plaintext
        if pt != unb64(g["pt"]):
            fail(f"{name}: old AES-GCM ciphertext decrypts to something else")
        checked += 1
    if "sign" in k:
        s = k["sign"]
        if not cc.verify(SignatureAlgorithm(s["alg"]), unb64(s["digest"]), unb64(s["sig"])).is_valid:
            fail(f"{name}: old signature does not verify")
        checked += 1
    return checked


def verify_rest(state, kc):
    r = state["rotated"]
    versions = {p.version for p in kc.list_properties_of_key_versions(r["name"])}
    if versions != {r["old"], r["new"]}:
        fail(f"{r['name']}: versions {versions}, want the original and the rotated one")
    if kc.get_key(r["name"]).properties.version != r["new"]:
        fail(f"{r['name']}: the latest version is not the rotated one")
    if kc.get_deleted_key(state["deleted"]).name != state["deleted"]:
        fail("the soft-deleted key is not back")
    ac = KeyVaultAccessControlClient(URL, cred(), connection_verify=CA)
    role = state["role"]
    found = [a for a in ac.list_role_assignments(role["scope"]) if a.name == role["assignment"]]
    if not found or found[0].properties.principal_id != role["principal"]:
        fail(f"role assignment {role['assignment']} at {role['scope']} is not back")
    if not any(d.name == role["definition"] for d in ac.list_role_definitions(KeyVaultRoleScope.GLOBAL)):
        fail("the custom role definition is not back")


def selective():
    state = json.load(open(STATE))
    name = "ec-p256k"
    bc = KeyVaultBackupClient(URL, cred(), connection_verify=CA)
    bc.begin_restore(state["folder"], sas_token=os.environ["DR_SAS"], key_name=name).result()
    names = sorted(p.name for p in keys().list_properties_of_keys())
    if names != [name]:
        fail(f"a selective restore of {name} left the keys {names}")
    k = state["keys"][name]
    s = k["sign"]
    if not crypto(name, k["version"]).verify(SignatureAlgorithm(s["alg"]), unb64(s["digest"]), unb64(s["sig"])).is_valid:
        fail(f"{name}: old signature does not verify after a selective restore")
    print(f"dr drill: selective restore of {name}: its old signature verifies")


def inactive():
    try:
        keys().create_ec_key("too-early", curve="P-256")
    except HttpResponseError as e:
        if e.status_code != 403:
            fail(f"a key operation before activation answered {e.status_code}, want 403")
        print(f"dr drill: refused while not active: {e.error.code if e.error else e.status_code}")
        return
    fail("a key was created in a pool that is not active")


if __name__ == "__main__":
    {"populate": populate, "backup": backup, "restore": restore, "refused": refused,
     "verify": verify, "inactive": inactive, "selective": selective}[sys.argv[1]]()
