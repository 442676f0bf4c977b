// Keys and cryptography through the official Azure SDK for JavaScript
// (@azure/keyvault-keys, @azure/identity), unmodified, against a live Coffer
// server described by the bootstrap file in COFFER_BOOTSTRAP. The CA must be
// trusted through NODE_EXTRA_CA_CERTS (compat/run.sh sets it).
//
// COFFER_SETUP=A (default): pool reached by host name; C: by IP address with
// disableChallengeResourceVerification.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPublicKey, createVerify, randomBytes, verify as cryptoVerify, publicEncrypt, constants } from "node:crypto";
import { readFileSync } from "node:fs";
import { ClientSecretCredential } from "@azure/identity";
import { KeyClient, CryptographyClient } from "@azure/keyvault-keys";

const boot = JSON.parse(readFileSync(process.env.COFFER_BOOTSTRAP, "utf8"));
const setup = process.env.COFFER_SETUP || "A";
const url = setup === "A" ? boot.hsmUrl : boot.hsmUrlByAddress;
const clientOptions = { disableChallengeResourceVerification: setup !== "A" };
const credential = new ClientSecretCredential(boot.tenantId, boot.clientId, boot.clientSecret, {
  authorityHost: boot.authorityHost,
  disableInstanceDiscovery: true,
});
const client = new KeyClient(url, credential, clientOptions);
const crypto = (key) => new CryptographyClient(key, credential, clientOptions);
const name = (p) => `js${setup.toLowerCase()}-${p}-${randomBytes(5).toString("hex")}`;
const sha = (bits, m) => createHash(`sha${bits}`).update(m).digest();
const b64 = (u8) => Buffer.from(u8).toString("base64url");

test("RSA keys: every encryption, wrap and signature algorithm", async () => {
  for (const keySize of [2048, 3072, 4096]) {
    const key = await client.createRsaKey(name(`rsa${keySize}`), { keySize, hsm: true });
    assert.equal(key.keyType, "RSA-HSM");
    assert.equal(key.key.n.length * 8, keySize);
    const cc = crypto(key);
    const pub = createPublicKey({ key: { kty: "RSA", n: b64(key.key.n), e: b64(key.key.e) }, format: "jwk" });
    for (const algorithm of ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"]) {
      const plaintext = randomBytes(32);
      const enc = await cc.encrypt({ algorithm, plaintext });
      const dec = await cc.decrypt({ algorithm, ciphertext: enc.result });
      assert.deepEqual(Buffer.from(dec.result), plaintext, algorithm);
      const w = await cc.wrapKey(algorithm, plaintext);
      const u = await cc.unwrapKey(algorithm, w.result);
      assert.deepEqual(Buffer.from(u.result), plaintext, `wrap ${algorithm}`);
    }
    // Encrypted locally by Node, decrypted by Coffer.
    const local = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, Buffer.from("node"));
    assert.equal(Buffer.from((await cc.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: local })).result).toString(), "node");
    for (const bits of [256, 384, 512]) {
      for (const fam of ["RS", "PS"]) {
        const algorithm = `${fam}${bits}`;
        const digest = sha(bits, "coffer js");
        const sig = await cc.sign(algorithm, digest);
        assert.ok((await cc.verify(algorithm, digest, sig.result)).result, algorithm);
        assert.equal((await cc.verify(algorithm, sha(bits, "other"), sig.result)).result, false);
        const opts = fam === "PS" ? { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: bits / 8 } : pub;
        assert.ok(cryptoVerify(`sha${bits}`, Buffer.from("coffer js"), opts, Buffer.from(sig.result)), `node verifies ${algorithm}`);
      }
    }
  }
});

test("EC keys: every curve", async () => {
  for (const [curve, algorithm, bits] of [["P-256", "ES256", 256], ["P-256K", "ES256K", 256], ["P-384", "ES384", 384], ["P-521", "ES512", 512]]) {
    const key = await client.createEcKey(name("ec"), { curve, hsm: true });
    assert.equal(key.keyType, "EC-HSM");
    assert.equal(key.key.crv, curve);
    const cc = crypto(key);
    const digest = sha(bits, "coffer ec");
    const sig = await cc.sign(algorithm, digest);
    assert.ok((await cc.verify(algorithm, digest, sig.result)).result, algorithm);
    const jwkCurve = curve === "P-256K" ? "secp256k1" : curve;
    const pub = createPublicKey({ key: { kty: "EC", crv: jwkCurve, x: b64(key.key.x), y: b64(key.key.y) }, format: "jwk" });
    assert.ok(createVerify(`sha${bits}`).update("coffer ec").verify({ key: pub, dsaEncoding: "ieee-p1363" }, Buffer.from(sig.result)),
      `node verifies ${algorithm}`);
  }
});

test("AES keys: GCM, CBC, CBCPAD, key wrap", async () => {
  for (const keySize of [128, 192, 256]) {
    const key = await client.createOctKey(name(`aes${keySize}`), { keySize, hsm: true });
    assert.equal(key.keyType, "oct-HSM");
    const cc = crypto(key);
    const plaintext = Buffer.from("thirty-two bytes of plain text!!");
    const gcm = await cc.encrypt({ algorithm: `A${keySize}GCM`, plaintext, additionalAuthenticatedData: Buffer.from("aad") });
    assert.equal(gcm.iv.length, 12);
    const g = await cc.decrypt({ algorithm: `A${keySize}GCM`, ciphertext: gcm.result, iv: gcm.iv, authenticationTag: gcm.authenticationTag, additionalAuthenticatedData: Buffer.from("aad") });
    assert.deepEqual(Buffer.from(g.result), plaintext);
    const iv = randomBytes(16);
    for (const alg of [`A${keySize}CBC`, `A${keySize}CBCPAD`]) {
      const enc = await cc.encrypt({ algorithm: alg, plaintext, iv });
      const dec = await cc.decrypt({ algorithm: alg, ciphertext: enc.result, iv });
      assert.deepEqual(Buffer.from(dec.result), plaintext, alg);
    }
    const w = await cc.wrapKey(`A${keySize}KW`, plaintext);
    assert.deepEqual(Buffer.from((await cc.unwrapKey(`A${keySize}KW`, w.result)).result), plaintext);
  }
});

test("lifecycle: import, update, versions, rotation, paging, delete, recover, purge, backup, restore, random", async () => {
  const n = name("life");
  const imported = await client.importKey(n, { kty: "oct", k: randomBytes(32), keyOps: ["encrypt", "decrypt"] });
  assert.equal(imported.keyType, "oct-HSM");
  assert.equal(imported.key.k, undefined);
  const upd = await client.updateKeyProperties(n, imported.properties.version, { tags: { env: "test" }, enabled: true });
  assert.deepEqual(upd.properties.tags, { env: "test" });
  await client.updateKeyRotationPolicy(n, { lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P60D" }], expiresIn: "P180D" });
  const policy = await client.getKeyRotationPolicy(n);
  assert.equal(policy.expiresIn, "P180D");
  assert.equal(policy.lifetimeActions[0].timeAfterCreate, "P60D");
  const rotated = await client.rotateKey(n);
  assert.notEqual(rotated.properties.version, imported.properties.version);
  const versions = [];
  for await (const v of client.listPropertiesOfKeyVersions(n)) versions.push(v.version);
  assert.deepEqual(versions.sort(), [imported.properties.version, rotated.properties.version].sort());

  const prefix = name("page");
  const made = [];
  for (let i = 0; i < 28; i++) made.push((await client.createEcKey(`${prefix}-${i}`, { curve: "P-256" })).name);
  const listed = [];
  for await (const k of client.listPropertiesOfKeys()) if (k.name.startsWith(prefix)) listed.push(k.name);
  assert.deepEqual(listed.sort(), made.sort());

  const backup = await client.backupKey(n);
  const deleted = await (await client.beginDeleteKey(n)).pollUntilDone();
  assert.ok(deleted.properties.recoveryId.endsWith(`/deletedkeys/${n}`));
  assert.equal((await client.getDeletedKey(n)).name, n);
  let seen = false;
  for await (const d of client.listDeletedKeys()) seen ||= d.name === n;
  assert.ok(seen);
  await (await client.beginRecoverDeletedKey(n)).pollUntilDone();
  await (await client.beginDeleteKey(n)).pollUntilDone();
  await client.purgeDeletedKey(n);
  const restored = await client.restoreKeyBackup(backup);
  assert.equal(restored.properties.version, rotated.properties.version);
  const rnd = await client.getRandomBytes(16);
  assert.equal(rnd.length, 16);
});

test("errors keep Azure's shape", async () => {
  await assert.rejects(client.getKey(name("missing")), (e) => e.statusCode === 404 && e.code === "KeyNotFound");
  await assert.rejects(client.createRsaKey(name("small"), { keySize: 1024 }), (e) => e.statusCode === 400);
});
