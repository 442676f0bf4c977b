#!/usr/bin/env bash
# The disaster-recovery drill of docs/operations/disaster-recovery.md, with
# real processes: coffer servers, the coffer CLI, the Python SDK, the Azure
# CLI (az keyvault security-domain restore-blob) and Azurite (a local Azure
# Blob Storage).
#
#  1. A server with a new pool: every call is refused until an administrator
#     downloads the security domain for 3 key holders, quorum 2.
#  2. Keys of every type, a rotated version, tags, a deleted key, a custom
#     role assignment, ciphertexts and signatures; a full backup to Azurite.
#  3. The server and its data are destroyed.
#  4. A new server, a pool created for recovery: uploading with one key
#     fails, a tampered blob fails, and neither changes anything; 2 of the 3
#     keys recover it; the full restore brings everything back, and every old
#     ciphertext decrypts and every old signature verifies.
#  5. A second recovering pool accepts a restore blob built by the Azure
#     CLI and restores one key selectively; a pool with another
#     security domain refuses the backup; a wrong SAS token is refused.
# Needs root (/etc/hosts is edited and restored).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
pids=()
hosts_backup=$work/hosts.backup
cp /etc/hosts "$hosts_backup"
cleanup() {
	status=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	cat "$hosts_backup" >/etc/hosts
	if [ $status -ne 0 ]; then
		for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done >&2
	fi
	rm -rf "$work"
	exit $status
}
trap cleanup EXIT INT TERM
fail() { echo "dr drill: FAIL: $*" >&2; exit 1; }
step() { echo "dr drill: $*"; }
j() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d'+sys.argv[2]))" "$1" "$2"; }
port=${COFFER_DR_PORT:-8453}
for p in prod oracle other; do echo "127.0.0.1 $p.mhsm.localhost" >>/etc/hosts; done

go build -o "$work/coffer" ./cmd/coffer
coffer() { COFFER_CONFIG_DIR=$work/cli "$work/coffer" "$@"; }

# --- Azurite, from npm, cached between runs.
step "starting Azurite"
azurite_dir=${XDG_CACHE_HOME:-$HOME/.cache}/coffer-test/azurite
if [ ! -x "$azurite_dir/node_modules/.bin/azurite-blob" ]; then
	npm install --prefix "$azurite_dir" --no-audit --no-fund --loglevel=error azurite@3 >/dev/null
fi
aport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$azurite_dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$aport" --location "$work/azurite" \
	--skipApiVersionCheck --loose --silent --disableTelemetry >"$work/azurite.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$aport/" >/dev/null 2>&1 && break; sleep 0.2; done
container=http://127.0.0.1:$aport/devstoreaccount1/backups
sas=$(/usr/bin/python3 - "$aport" <<'EOF'
import sys, datetime
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
svc = BlobServiceClient(f"http://127.0.0.1:{sys.argv[1]}/devstoreaccount1",
                        credential={"account_name": "devstoreaccount1", "account_key": key})
svc.create_container("backups")
print(generate_container_sas("devstoreaccount1", "backups", account_key=key,
      permission=ContainerSasPermissions(read=True, write=True, create=True, list=True, delete=True),
      expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)))
EOF
)

# --- servers.
start() { # name
	local name=$1
	cat >"$work/$name.json" <<EOF
{"listen": "127.0.0.1:$port", "dataDir": "$work/$name", "backup": {"allowHttp": true}}
EOF
	"$work/coffer" serve --config "$work/$name.json" >"$work/$name.log" 2>&1 &
	pids+=($!)
	eval "${name}_pid=$!"
	for _ in $(seq 1 100); do
		curl -fsS --cacert "$work/$name/ca.pem" "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return
		sleep 0.2
	done
	fail "server $name did not start"
}
# add_pools name json-array: adds pools to the configuration and reloads.
add_pools() {
	python3 - "$work/$1.json" "$2" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); c["pools"] = json.loads(sys.argv[2]); json.dump(c, open(sys.argv[1], "w"))
EOF
	local pid
	pid=$(eval echo "\$${1}_pid")
	kill -HUP "$pid"
	for _ in $(seq 1 50); do
		grep -q "configuration reloaded" "$work/$1.log" && return
		sleep 0.1
	done
	fail "server $1 did not reload"
}
# officer name: signs in as the break-glass Global Administrator, creates
# the security officer, and prints its object id.
officer() {
	local name=$1 creds=$work/$1/admin-credentials.json
	coffer login --server "https://localhost:$port" --tenant "$(j "$creds" "['tenantId']")" --ca-file "$work/$name/ca.pem" \
		--service-principal -u "$(j "$creds" "['clientId']")" -p "$(j "$creds" "['clientSecret']")" -o none
	coffer directory sp create --name "security officer" >"$work/$name-officer.json"
	j "$work/$name-officer.json" "['principal']['objectId']"
}
login_officer() { # name pool
	local o=$work/$1-officer.json
	coffer login --server "https://localhost:$port" --tenant "$(j "$work/$1/admin-credentials.json" "['tenantId']")" \
		--ca-file "$work/$1/ca.pem" --hsm-url "https://$2.mhsm.localhost:$port" \
		--service-principal -u "$(j "$o" "['principal']['appId']")" -p "$(j "$o" "['secret']")" -o none
	export DR_TENANT DR_CLIENT_ID DR_SECRET DR_AUTHORITY DR_CA DR_URL
	DR_TENANT=$(j "$work/$1/admin-credentials.json" "['tenantId']")
	DR_CLIENT_ID=$(j "$o" "['principal']['appId']") DR_SECRET=$(j "$o" "['secret']")
	DR_AUTHORITY=https://localhost:$port DR_CA=$work/$1/ca.pem DR_URL=https://$2.mhsm.localhost:$port
}
export DR_STATE=$work/state.json DR_CONTAINER=$container DR_SAS=$sas
py() { /usr/bin/python3 -W ignore::ResourceWarning compat/python/dr_drill.py "$@"; }
crypto_roles() { # object id: Crypto Officer and Crypto User at "/"
	coffer role assignment create --role "Managed HSM Crypto Officer" --assignee "$1" -o none
	coffer role assignment create --role "Managed HSM Crypto User" --assignee "$1" -o none
}

# --- 1. a new pool, activated by its security domain.
step "server A: a new pool waits for its security domain"
start a
oid=$(officer a)
add_pools a "[{\"name\": \"prod\", \"administrators\": [\"$oid\"]}]"
login_officer a prod
py inactive
coffer securitydomain keygen --count 3 --out-dir "$work/holders" -o none >/dev/null
if coffer securitydomain download --certs "$work/holders/cert_0.cer,$work/holders/cert_1.cer" --quorum 2 --file "$work/bad.json" 2>"$work/err"; then
	fail "a download with 2 certificates succeeded"
fi
step "download with two certificates refused: $(tail -n 1 "$work/err" | head -c 300)"
coffer securitydomain download --certs "$work/holders/cert_0.cer,$work/holders/cert_1.cer,$work/holders/cert_2.cer" \
	--quorum 2 --file "$work/sd.json" -o none
[ -s "$work/sd.json" ] || fail "no security-domain file"
if coffer securitydomain download --certs "$work/holders/cert_0.cer,$work/holders/cert_1.cer,$work/holders/cert_2.cer" \
	--quorum 2 --file "$work/sd2.json" 2>/dev/null; then
	fail "the security domain was downloaded twice"
fi
step "security domain downloaded (3 holders, quorum 2); the pool is active"

# --- 2. keys, assignments, ciphertexts, signatures; a full backup.
crypto_roles "$oid"
py populate
py backup
if coffer backup start --check-only --container-url "$container" --sas-token "${sas%sig=*}sig=AAAA${sas#*sig=}" >"$work/out" 2>"$work/err"; then
	fail "a pre-backup check with a wrong SAS signature succeeded"
fi
grep -q "${sas#*sig=}" "$work/err" "$work/out" "$work/a.log" && fail "the SAS signature appears in an error or the log"
step "a wrong SAS token is refused: $(tail -n 1 "$work/err" | head -c 300)"

# --- 3. disaster.
step "destroying server A and its data"
kill "$a_pid"; wait "$a_pid" 2>/dev/null || true
rm -rf "$work/a" "$work/cli"

# --- 4. recovery.
step "server B: pools created for recovery"
start b
oid=$(officer b)
add_pools b "[{\"name\": \"prod\", \"recovery\": true, \"administrators\": [\"$oid\"]},
	{\"name\": \"oracle\", \"recovery\": true, \"administrators\": [\"$oid\"]},
	{\"name\": \"other\", \"administrators\": [\"$oid\"]}]"
login_officer b prod
py inactive
if coffer securitydomain upload --file "$work/sd.json" --keys "$work/holders/cert_0.pem" 2>"$work/err"; then
	fail "an upload with 1 key of a quorum of 2 succeeded"
fi
step "one key is not a quorum: $(tail -n 1 "$work/err" | head -c 300)"
coffer securitydomain init-recovery --exchange-key "$work/exchange.cer"
coffer securitydomain restore-blob --file "$work/sd.json" --keys "$work/holders/cert_0.pem,$work/holders/cert_1.pem" \
	--exchange-key "$work/exchange.cer" --out "$work/blob.json"
python3 - "$work/blob.json" "$work/tampered.json" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
jwe = b["WrappedKey"]["enc_key"].split(".")
jwe[3] = ("A" if jwe[3][0] != "A" else "B") + jwe[3][1:]
b["WrappedKey"]["enc_key"] = ".".join(jwe)
json.dump(b, open(sys.argv[2], "w"))
EOF
if coffer securitydomain upload --restore-blob "$work/tampered.json" 2>"$work/err"; then
	fail "a tampered restore blob was accepted"
fi
step "a tampered blob is refused: $(tail -n 1 "$work/err" | head -c 300)"
py inactive
coffer securitydomain upload --file "$work/sd.json" --keys "$work/holders/cert_0.pem,$work/holders/cert_2.pem" -o none
step "security domain uploaded with 2 of 3 keys; restoring the full backup"
py restore
crypto_roles "$oid"
py verify

# --- 5. the Azure CLI's format, selective restore, another domain.
step "pool oracle: a restore blob built by az keyvault security-domain restore-blob"
login_officer b oracle
coffer securitydomain init-recovery --exchange-key "$work/exchange2.cer"
# The Azure CLI itself (offline: this command makes no request).
AZURE_CONFIG_DIR=$work/azure az keyvault security-domain restore-blob --sd-file "$work/sd.json" \
	--sd-exchange-key "$work/exchange2.cer" --sd-wrapping-keys "$work/holders/cert_1.pem" "$work/holders/cert_2.pem" \
	--sd-file-restore-blob "$work/azblob.json" >/dev/null
coffer securitydomain upload --restore-blob "$work/azblob.json" -o none
crypto_roles "$oid"
py selective

step "pool other: its own security domain refuses the backup"
login_officer b other
coffer securitydomain keygen --count 3 --out-dir "$work/other-holders" --prefix h -o none >/dev/null
coffer securitydomain download --certs "$work/other-holders/h0.cer,$work/other-holders/h1.cer,$work/other-holders/h2.cer" \
	--quorum 3 --file "$work/other-sd.json" -o none
crypto_roles "$oid"
py refused
step "PASS"
