// An unmodified application: configured only by environment variables,
// authenticating with DefaultAzureCredential. compat/identity.sh runs it with
// the App Service managed-identity variables and with a client secret under
// AZURE_TENANT_ID=adfs.
import { createHash } from "node:crypto";
import { DefaultAzureCredential } from "@azure/identity";
import { KeyClient, CryptographyClient } from "@azure/keyvault-keys";

const cred = new DefaultAzureCredential();
const client = new KeyClient(process.env.COFFER_HSM_URL, cred);
const key = await client.createEcKey(process.env.COFFER_KEY_NAME, { curve: "P-256" });
const crypto = new CryptographyClient(key, cred);
const digest = createHash("sha256").update("env app").digest();
const sig = await crypto.sign("ES256", digest);
const ok = await crypto.verify("ES256", digest, sig.result);
if (!ok.result) throw new Error("signature did not verify");
console.log("js env app: created and used", key.id);
