"""Format oracle for package sdformat: the Azure CLI's own security-domain code.

  oracle.py restore-blob SD_FILE EXCHANGE_CERT_PEM KEY.pem [KEY.pem ...]
      decodes a security-domain file with a quorum of holders' keys (each
      KEY.pem with KEY.cer beside it) and prints the restore blob the Azure
      CLI would upload for the exchange certificate.
  oracle.py combine REQUIRED SHARE_HEX [SHARE_HEX ...]
      rebuilds a secret from Shamir shares with the CLI's decoder; prints hex.
  oracle.py kdf KEY_HEX LABEL CONTEXT BITS
      the CLI's SP 800-108 KDF; prints hex.

Run with the system python3 of a Debian machine with the azure-cli package.
"""

import array
import sys

from azure.cli.command_modules.keyvault.custom import _security_domain_restore_blob
from azure.cli.command_modules.keyvault.security_domain.shared_secret import SharedSecret
from azure.cli.command_modules.keyvault.security_domain.sp800_108 import KDF

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "restore-blob":
    sys.stdout.write(_security_domain_restore_blob(args[0], args[1], args[2:]))
elif cmd == "combine":
    required = int(args[0])
    arrays = []
    for h in args[1:]:
        a = array.array("H")
        a.frombytes(bytes.fromhex(h))
        arrays.append(a)
    print(bytes(SharedSecret.get_plaintext(arrays, required)).hex())
elif cmd == "kdf":
    key = bytes.fromhex(args[0])
    print(bytes(KDF.sp800_108(bytearray(key), args[1], args[2], int(args[3]))).hex())
else:
    sys.exit("unknown command " + cmd)
