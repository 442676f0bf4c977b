"""An unmodified application: configured only by environment variables,
authenticating with DefaultAzureCredential. compat/identity.sh runs it with
the App Service managed-identity variables and with a client secret under
AZURE_TENANT_ID=adfs."""

import hashlib
import os

from azure.identity import DefaultAzureCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

cred = DefaultAzureCredential()
client = KeyClient(os.environ["COFFER_HSM_URL"], cred)
key = client.create_ec_key(os.environ["COFFER_KEY_NAME"], curve="P-256")
crypto = CryptographyClient(key, cred)
digest = hashlib.sha256(b"env app").digest()
sig = crypto.sign(SignatureAlgorithm.es256, digest)
assert crypto.verify(SignatureAlgorithm.es256, digest, sig.signature).is_valid
print("python env app: created and used", key.id)
