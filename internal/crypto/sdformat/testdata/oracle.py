"""Format oracle for package sdformat: the Azure CLI's own security-domain code
(Debian package azure-cli, run with the system python3), unmodified.

  oracle.py download-request QUORUM CERT.cer...
      prints the body `az keyvault security-domain download` POSTs for these
      certificates (PEM) and quorum, captured from the CLI's own client.
  oracle.py init-recovery RESPONSE.json OUT.pem
      runs `az keyvault security-domain init-recovery` against a server that
      answers GET /securitydomain/upload with the body in RESPONSE.json; the
      CLI writes the exchange certificate to OUT.pem.
  oracle.py restore-blob SD.json EXCHANGE.pem OUT_BLOB KEY.pem...
      what `az keyvault security-domain restore-blob` does with these wrapping
      keys (each KEY.pem with KEY.cer beside it): writes the restore blob to
      OUT_BLOB, and prints as JSON the master key and payloads the CLI's
      functions decode from the file.
  oracle.py open-blob BLOB EXCHANGE_KEY.pem EXCHANGE.cer
      decodes a restore blob with the CLI's JWE and KDF code; prints as JSON
      the payloads, whether x5t_256 is the certificate's thumbprint, and
      whether the text is exactly what the CLI's json.dumps writes.
  oracle.py headers FILE
      rebuilds the protected header of every JWE in a file or blob with the
      CLI's header encoder; prints the JWEs whose header differs.
  oracle.py combine REQUIRED SHARE_HEX... [-- REQUIRED SHARE_HEX...]...
      the CLI's Shamir decoder; prints each secret in hex, one a line.
  oracle.py kdf KEY_HEX LABEL CONTEXT BITS [KEY_HEX LABEL CONTEXT BITS]...
      the CLI's SP 800-108 KDF; prints each key in hex, one a line.
"""

import array
import base64
import json
import os
import sys
import tempfile
import types

import azure.keyvault
import requests
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509 import load_pem_x509_certificate

import azure.cli.command_modules.keyvault.custom as custom
from azure.cli.command_modules.keyvault.security_domain.jwe import JWE, JWEDecode, JWEHeader
from azure.cli.command_modules.keyvault.security_domain.shared_secret import SharedSecret
from azure.cli.command_modules.keyvault.security_domain.sp800_108 import KDF
from azure.cli.command_modules.keyvault.security_domain.utils import Utils


def client(status, body, captured):
    """The CLI's own data-plane client (API version 7.2), its transport
    replaced: requests are captured and answered with status and body.

    Debian's azure-cli lacks the track-1 azure.keyvault helpers the client's
    package imports for authentication, which these calls never use; empty
    modules stand in for them."""

    class Stub(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return type(name, (), {})

    for name in ["http_bearer_challenge_cache", "http_challenge", "http_message_security", "_internal", "models"]:
        full = "azure.keyvault." + name
        if full not in sys.modules:
            sys.modules[full] = Stub(full)
            setattr(azure.keyvault, name, sys.modules[full])
    from azure.cli.command_modules.keyvault.vendored_sdks.azure_keyvault_t1.v7_2 import KeyVaultClient, models

    class Credentials:
        def signed_session(self, session=None):
            return session or requests.Session()

    def send(request, headers=None, content=None, **kwargs):
        captured.append(request)
        r = requests.Response()
        r.status_code = status
        r._content = body.encode()
        r.headers["Content-Type"] = "application/json"
        return r

    c = KeyVaultClient(Credentials())
    c._client.send = send
    return c, models


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "===")


def decode_payloads(enc_data, master_key):
    out = []
    for item in enc_data["data"]:
        key = KDF.sp800_108(master_key, label=item["tag"], context="", bit_length=512)
        plaintext = JWE(item["compact_jwe"]).decrypt_using_bytes(key)
        if plaintext is None:
            sys.exit("payload %r does not decrypt" % item["tag"])
        out.append({"tag": item["tag"], "plaintext": bytes(plaintext).hex()})
    return out


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "download-request":
        captured = []
        c, models = client(202, json.dumps({"value": "{}"}), captured)

        class Cmd:
            def get_models(self, name, resource_type=None, **kwargs):
                return getattr(models, name)

        with tempfile.TemporaryDirectory() as d:
            custom.security_domain_download(Cmd(), c, "https://pool.example", args[1:],
                                            os.path.join(d, "sd.json"), int(args[0]), no_wait=True)
        (request,) = captured
        assert request.method == "POST" and "/securitydomain/download?" in request.url, request.url
        sys.stdout.write(request.body)
    elif cmd == "init-recovery":
        with open(args[0]) as f:
            body = f.read()
        captured = []
        c, _ = client(200, body, captured)
        custom.security_domain_init_recovery(c, "https://pool.example", args[1])
        (request,) = captured
        assert request.method == "GET" and "/securitydomain/upload?" in request.url, request.url
    elif cmd == "restore-blob":
        sd_file, exchange, out_blob, keys = args[0], args[1], args[2], args[3:]
        blob = custom._security_domain_restore_blob(sd_file, exchange, keys)
        with open(out_blob, "w") as f:
            f.write(blob)
        # The same decoding, step by step, to see what the CLI recovered.
        with open(sd_file) as f:
            sd = json.load(f)
        required = sd["SharedKeys"]["required"]
        arrays = custom._security_domain_gen_share_arrays(keys, [], sd["SharedKeys"], required)
        master_key = SharedSecret.get_plaintext(arrays, required=required)
        json.dump({"master": bytes(master_key).hex(), "data": decode_payloads(sd["EncData"], master_key)}, sys.stdout)
    elif cmd == "open-blob":
        with open(args[0]) as f:
            text = f.read()
        blob = json.loads(text)
        with open(args[1], "rb") as f:
            private_key = load_pem_private_key(f.read(), password=None, backend=default_backend())
        with open(args[2], "rb") as f:
            cert = load_pem_x509_certificate(f.read(), backend=default_backend())
        thumbprint = Utils.security_domain_b64_url_encode(Utils.get_SHA256_thumbprint(cert))
        master_key = JWE(blob["WrappedKey"]["enc_key"]).decrypt_using_private_key(private_key)
        if master_key is None:
            sys.exit("the wrapped key does not decrypt")
        json.dump({
            "layout": json.dumps(blob) == text,
            "x5t_256": blob["WrappedKey"]["x5t_256"] == thumbprint,
            "master_size": len(master_key),
            "data": decode_payloads(blob["EncData"], master_key),
        }, sys.stdout)
    elif cmd == "headers":
        with open(args[0]) as f:
            doc = json.load(f)
        jwes = [d["compact_jwe"] for d in doc["EncData"]["data"]]
        jwes += [s["enc_key"] for s in doc.get("SharedKeys", {}).get("enc_shares", [])]
        if "WrappedKey" in doc:
            jwes.append(doc["WrappedKey"]["enc_key"])
        differ = []
        for compact in jwes:
            encoded = compact.split(".")[0]
            again = JWEDecode()
            again.protected_header = JWEHeader.from_json_str(b64url_decode(encoded).decode("ascii"))
            again.encode_header()
            if again.encoded_header != encoded:
                differ.append({"got": encoded, "cli": again.encoded_header})
        json.dump({"checked": len(jwes), "differ": differ}, sys.stdout)
    elif cmd == "combine":
        groups = [[]]
        for a in args:
            if a == "--":
                groups.append([])
            else:
                groups[-1].append(a)
        for g in groups:
            arrays = []
            for h in g[1:]:
                a = array.array("H")
                a.frombytes(bytes.fromhex(h))
                arrays.append(a)
            print(bytes(SharedSecret.get_plaintext(arrays, int(g[0]))).hex())
    elif cmd == "kdf":
        for i in range(0, len(args), 4):
            key, label, context, bits = args[i:i + 4]
            print(bytes(KDF.sp800_108(bytearray.fromhex(key), label, context, int(bits))).hex())
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
