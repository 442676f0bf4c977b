"""Builds a security-domain restore blob with the Azure CLI's own code.

  sd_oracle.py SD_FILE EXCHANGE_CERT_PEM KEY.pem [KEY.pem ...]  > blob

The Azure CLI's security-domain modules (Debian azure-cli, imported from the
system python3) decrypt the quorum's shares of a security-domain file,
rebuild its master key and re-encrypt it for a recovering HSM's exchange
key, exactly as `az keyvault security-domain upload` does before sending.
Using them on a file Coffer made, and uploading the result to Coffer, proves
both directions of the format.
"""

import sys

from azure.cli.command_modules.keyvault.custom import _security_domain_restore_blob

sd_file, exchange, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.stdout.write(_security_domain_restore_blob(sd_file, exchange, keys))
