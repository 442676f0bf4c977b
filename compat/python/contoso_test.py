"""The Contoso separation-of-duties scenario, end to end with the official SDKs.

This is docs/tutorials/separation-of-duties.md as a test: roles are managed
with azure-keyvault-administration (KeyVaultAccessControlClient,
KeyVaultSettingsClient), keys are used with azure-keyvault-keys, and every
party signs in the way it would in production: the security team, the
developers and the auditors as directory users (username and password), the
application VM and the storage account through their managed identities
(the App Service identity endpoint). Each party must be able to do exactly
what the tutorial's table gives it and nothing more.

The directory objects are created beforehand by compat/run.sh with the
coffer CLI and described in the JSON file named by COFFER_CONTOSO.
"""

import base64
import hashlib
import json
import os
import subprocess
import unittest
import uuid

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential, ManagedIdentityCredential, UsernamePasswordCredential
from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultPermission,
    KeyVaultRoleScope,
    KeyVaultSettingsClient,
)
from azure.keyvault.keys import KeyClient, KeyRotationLifetimeAction, KeyRotationPolicy, KeyRotationPolicyAction
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm, SignatureAlgorithm

BOOT = json.load(open(os.environ["COFFER_BOOTSTRAP"]))
WORLD = json.load(open(os.environ["COFFER_CONTOSO"]))
URL = BOOT["hsmUrl"]
CA = BOOT["caFile"]
P = "Microsoft.KeyVault/managedHsm/"
# The Azure CLI's public client id; password sign-in names a public client.
PUBLIC_CLIENT = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

ROLE = {
    "Managed HSM Administrator": "a290e904-7015-4bba-90c8-60543313cdb4",
    "Managed HSM Crypto Auditor": "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
    "Managed HSM Crypto User": "21dbd100-6940-42c2-9190-5d6cb909625b",
    "Managed HSM Crypto Service Encryption User": "33413926-3206-4cdd-b39a-83574fe37a17",
}


def subscription_admin():
    """The bootstrap principal stands in for the subscription administrator."""
    return ClientSecretCredential(BOOT["tenantId"], BOOT["clientId"], BOOT["clientSecret"],
                                  authority=BOOT["authorityHost"], instance_discovery=False, connection_verify=CA)


def user(key):
    u = WORLD["users"][key]
    # tenant "adfs": MSAL's user-realm lookup before a password sign-in drops
    # the authority's port (https://localhost/common/userrealm/...), and it
    # skips that lookup for ADFS authorities, which Coffer also serves.
    return UsernamePasswordCredential(PUBLIC_CLIENT, u["upn"], u["password"], tenant_id="adfs",
                                      authority=BOOT["authorityHost"], instance_discovery=False, connection_verify=CA)


def managed_identity(resource):
    # The SDK reads the App Service variables when the credential is built,
    # exactly as an application on that resource would have them.
    os.environ["IDENTITY_ENDPOINT"] = WORLD["identityEndpoint"]
    os.environ["IDENTITY_HEADER"] = WORLD["resources"][resource]["identityHeader"]
    try:
        return ManagedIdentityCredential()
    finally:
        del os.environ["IDENTITY_ENDPOINT"], os.environ["IDENTITY_HEADER"]


def rbac(cred):
    return KeyVaultAccessControlClient(URL, cred, connection_verify=CA)


def keys(cred):
    return KeyClient(URL, cred, connection_verify=CA)


def crypto(cred, key_id):
    return CryptographyClient(key_id, cred, connection_verify=CA)


def settings(cred):
    return KeyVaultSettingsClient(URL, cred, connection_verify=CA)


def role_id(name):
    return f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{ROLE[name]}"


DIGEST = hashlib.sha256(b"Contoso invoice 42").digest()
CEK = os.urandom(32)


class Contoso(unittest.TestCase):
    """Runs in order: each step builds on the one before, like the tutorial."""

    def denied(self, action, fn, *args, **kwargs):
        """fn must be refused with 403 AccessDenied naming the action."""
        with self.assertRaises(HttpResponseError) as cm:
            r = fn(*args, **kwargs)
            # Pagers only send their request when iterated.
            if hasattr(r, "__iter__") and not isinstance(r, (str, bytes, dict)):
                list(r)
        e = cm.exception
        self.assertEqual(e.status_code, 403, f"{fn.__qualname__}: {e}")
        self.assertEqual(e.error.code, "AccessDenied", f"{fn.__qualname__}: {e}")
        self.assertIn(P + action, e.error.message)

    def test_scenario(self):
        sec, dev, aud = user("security"), user("devops"), user("auditor")
        vm, storage = managed_identity("contoso-app-vm"), managed_identity("contosologstorage")
        groups = WORLD["groups"]

        # 1. The subscription admin makes the security team Administrator.
        rbac(subscription_admin()).create_role_assignment(
            KeyVaultRoleScope.GLOBAL, role_id("Managed HSM Administrator"), groups["security"])

        # 2. Administrator is about the HSM, not its keys: no key operations.
        self.denied("keys/create", keys(sec).create_rsa_key, "contoso-signing", size=2048)
        self.denied("keys/read/action", lambda: list(keys(sec).list_properties_of_keys()))

        # 3. The seed lists generating, importing and rolling keys among the
        #    security team's duties, which Administrator does not grant. The team
        #    closes the gap with a custom role for key custody — lifecycle, but
        #    no use of any key — assigned to itself for /keys.
        custodian = rbac(sec).set_role_definition(
            KeyVaultRoleScope.GLOBAL, role_name="Contoso Key Custodian",
            description="Create, import, rotate and back up keys; never use them.",
            permissions=[KeyVaultPermission(data_actions=[
                P + "keys/read/action", P + "keys/create", P + "keys/import/action", P + "keys/rotate/action",
                P + "keys/write/action", P + "keys/backup/action", P + "keys/deletedKeys/read/action"])])
        rbac(sec).create_role_assignment(KeyVaultRoleScope.KEYS, custodian.id, groups["security"])

        # The new assignment is in force on the very next request.
        kc = keys(sec)
        signing = kc.create_rsa_key("contoso-signing", size=2048, key_operations=["sign", "verify"])
        cmk = kc.create_rsa_key("contoso-storage-cmk", size=3072, key_operations=["wrapKey", "unwrapKey"])
        kc.update_key_rotation_policy("contoso-signing", KeyRotationPolicy(lifetime_actions=[KeyRotationLifetimeAction(
            KeyRotationPolicyAction.rotate, time_after_create="P90D")], expires_in="P1Y"))
        rotated = kc.rotate_key("contoso-signing")
        self.assertNotEqual(rotated.properties.version, signing.properties.version)
        self.assertTrue(kc.backup_key("contoso-storage-cmk"))
        self.denied("keys/sign/action", crypto(sec, rotated.id).sign, SignatureAlgorithm.rs256, DIGEST)
        self.denied("keys/delete", kc.begin_delete_key, "contoso-signing")

        # 4. The security team grants the others their roles, each at the
        #    narrowest scope that does the job.
        sr = rbac(sec)
        sr.create_role_assignment(KeyVaultRoleScope.GLOBAL, role_id("Managed HSM Crypto Auditor"), groups["auditors"])
        sr.create_role_assignment("/keys/contoso-signing", role_id("Managed HSM Crypto User"),
                                  WORLD["resources"]["contoso-app-vm"]["objectId"])
        sr.create_role_assignment("/keys/contoso-storage-cmk", role_id("Managed HSM Crypto Service Encryption User"),
                                  WORLD["resources"]["contosologstorage"]["objectId"])
        settings(sec).update_setting("AllowKeyManagementOperationsThroughARM", "false")

        # 5. The application VM signs with its key, and with nothing else.
        vc = crypto(vm, rotated.id)
        sig = vc.sign(SignatureAlgorithm.rs256, DIGEST).signature
        self.assertTrue(vc.verify(SignatureAlgorithm.rs256, DIGEST, sig).is_valid)
        self.assertEqual(keys(vm).get_key("contoso-signing").id, rotated.id)
        self.denied("keys/wrap/action", crypto(vm, cmk.id).wrap_key, KeyWrapAlgorithm.rsa_oaep_256, CEK)
        self.denied("keys/read/action", lambda: list(keys(vm).list_properties_of_keys()))
        self.denied("keys/create", keys(vm).create_ec_key, "vm-made")
        self.denied("roleAssignments/write/action", rbac(vm).create_role_assignment,
                    "/keys/contoso-signing", role_id("Managed HSM Crypto User"), str(uuid.uuid4()))

        # 6. The storage account wraps and unwraps its data key, nothing more.
        scc = crypto(storage, cmk.id)
        wrapped = scc.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, CEK)
        self.assertEqual(scc.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key, CEK)
        self.assertEqual(keys(storage).get_key("contoso-storage-cmk").id, cmk.id)
        self.denied("keys/sign/action", crypto(storage, rotated.id).sign, SignatureAlgorithm.rs256, DIGEST)
        self.denied("keys/read/action", keys(storage).get_key, "contoso-signing")
        self.denied("keys/create", keys(storage).create_rsa_key, "storage-made")

        # 7. Auditors review expiry dates and who has access, and use nothing.
        ak = keys(aud)
        names = {k.name for k in ak.list_properties_of_keys()}
        self.assertTrue({"contoso-signing", "contoso-storage-cmk"} <= names)
        self.assertEqual(ak.get_key_rotation_policy("contoso-signing").expires_in, "P1Y")
        principals = {a.properties.principal_id for a in rbac(aud).list_role_assignments(KeyVaultRoleScope.GLOBAL)}
        self.assertTrue({groups["security"], groups["auditors"]} <= principals)
        vm_scope = list(rbac(aud).list_role_assignments("/keys/contoso-signing"))
        self.assertIn(WORLD["resources"]["contoso-app-vm"]["objectId"], {a.properties.principal_id for a in vm_scope})
        self.assertEqual(settings(aud).get_setting("AllowKeyManagementOperationsThroughARM").value, "false")
        self.denied("keys/sign/action", crypto(aud, rotated.id).sign, SignatureAlgorithm.rs256, DIGEST)
        self.denied("keys/create", ak.create_rsa_key, "auditor-made")
        self.denied("keys/backup/action", ak.backup_key, "contoso-signing")
        self.denied("roleAssignments/write/action", rbac(aud).create_role_assignment,
                    KeyVaultRoleScope.GLOBAL, role_id("Managed HSM Crypto User"), WORLD["users"]["auditor"]["objectId"])
        self.denied("settings/write/action", settings(aud).update_setting, "AllowKeyManagementOperationsThroughARM", "true")

        # 8. Developers and operators have no access at all: they get the key
        #    URI from the security team, and only the application uses it.
        dk = keys(dev)
        self.denied("keys/read/action", dk.get_key, "contoso-signing")
        self.denied("keys/read/action", lambda: list(dk.list_properties_of_keys()))
        self.denied("keys/sign/action", crypto(dev, rotated.id).sign, SignatureAlgorithm.rs256, DIGEST)
        self.denied("roleAssignments/read/action", rbac(dev).list_role_assignments, KeyVaultRoleScope.GLOBAL)
        self.denied("settings/read/action", settings(dev).get_setting, "AllowKeyManagementOperationsThroughARM")

        # 9. A security engineer leaves the team: removed from the group, their
        #    still-valid token stops working on the next request.
        security_rbac = rbac(sec)
        self.assertTrue(list(security_rbac.list_role_assignments(KeyVaultRoleScope.GLOBAL)))
        subprocess.run([WORLD["coffer"], "directory", "group", "member", "remove", groups["security"],
                        WORLD["users"]["security"]["objectId"], "-o", "none"], check=True)
        self.denied("roleAssignments/read/action", security_rbac.list_role_assignments, KeyVaultRoleScope.GLOBAL)
        self.denied("keys/read/action", kc.get_key, "contoso-signing")

    def test_custom_role_round_trip(self):
        """A custom role with notDataActions, through the Python SDK."""
        admin = rbac(subscription_admin())
        kc = keys(subscription_admin())
        key = kc.create_ec_key("custom-role-key", curve="P-256")
        dev_id = WORLD["users"]["devops2"]["objectId"]
        dev = user("devops2")

        name = str(uuid.uuid4())
        data_actions = [P + "keys/read/action", P + "keys/sign/action", P + "keys/verify/action", P + "keys/delete"]
        created = admin.set_role_definition(
            KeyVaultRoleScope.GLOBAL, name=name, role_name="Contoso Release Signer",
            description="Sign releases; never delete the key.",
            permissions=[KeyVaultPermission(data_actions=data_actions, not_data_actions=[P + "keys/delete"])])
        got = admin.get_role_definition(KeyVaultRoleScope.GLOBAL, name)
        for d in (created, got):
            self.assertEqual(d.name, name)
            self.assertEqual(d.role_name, "Contoso Release Signer")
            self.assertEqual(d.description, "Sign releases; never delete the key.")
            self.assertEqual(d.role_type, "CustomRole")
            self.assertEqual([str(s) for s in d.assignable_scopes], ["/"])
            self.assertEqual(len(d.permissions), 1)
            self.assertEqual(sorted(d.permissions[0].data_actions), sorted(data_actions))
            self.assertEqual(d.permissions[0].not_data_actions, [P + "keys/delete"])
            self.assertEqual(d.id, f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{name}")
        listed = [d for d in admin.list_role_definitions(KeyVaultRoleScope.GLOBAL) if d.name == name]
        self.assertEqual(len(listed), 1)

        assignment = admin.create_role_assignment("/keys/custom-role-key", created.id, dev_id)
        got_a = admin.get_role_assignment("/keys/custom-role-key", assignment.name)
        self.assertEqual(got_a.properties.role_definition_id, created.id)
        self.assertEqual(got_a.properties.principal_id, dev_id)
        self.assertEqual(got_a.properties.scope, "/keys/custom-role-key")

        cc = crypto(dev, key.id)
        sig = cc.sign(SignatureAlgorithm.es256, DIGEST).signature
        self.assertTrue(cc.verify(SignatureAlgorithm.es256, DIGEST, sig).is_valid)
        # notDataActions take keys/delete out of the role's own grant.
        self.denied("keys/delete", keys(dev).begin_delete_key, "custom-role-key")
        # The role applies at its key only.
        self.denied("keys/read/action", keys(dev).get_key, "contoso-signing")

        # Updating the role (same name) takes effect on the next request.
        admin.set_role_definition(KeyVaultRoleScope.GLOBAL, name=name, role_name="Contoso Release Signer",
                                  permissions=[KeyVaultPermission(data_actions=[P + "keys/read/action", P + "keys/verify/action"])])
        self.denied("keys/sign/action", cc.sign, SignatureAlgorithm.es256, DIGEST)
        self.assertEqual(keys(dev).get_key("custom-role-key").id, key.id)

        # Deleting the role revokes it, though the assignment stays listed.
        # (The SDK verifies EC signatures locally with the public key it
        # already holds, so key reads are what show the revocation.)
        admin.delete_role_definition(KeyVaultRoleScope.GLOBAL, name)
        self.denied("keys/read/action", keys(dev).get_key, "custom-role-key")
        self.assertIn(assignment.name, {a.name for a in admin.list_role_assignments("/keys/custom-role-key")})
        with self.assertRaises(HttpResponseError) as cm:
            admin.get_role_definition(KeyVaultRoleScope.GLOBAL, name)
        self.assertEqual(cm.exception.status_code, 404)
        admin.delete_role_assignment("/keys/custom-role-key", assignment.name)
        with self.assertRaises(HttpResponseError) as cm:
            admin.get_role_assignment("/keys/custom-role-key", assignment.name)
        self.assertEqual(cm.exception.status_code, 404)
        self.assertEqual(cm.exception.error.code, "RoleAssignmentNotFound")


if __name__ == "__main__":
    unittest.main(verbosity=2)
