#!/usr/bin/env bash
# Runs the real-client suites against a real `coffer serve --dev` process:
# the Python SDK, the Go SDK, the JavaScript SDK (each in set-up A, by host
# name, and set-up C, by IP address), the Azure CLI, and an openssl interop
# check. Needs root to add the pool's host name to /etc/hosts; the file is
# restored on exit whatever happens.
#
#   compat/run.sh [suite...]     suites: python go js az interop rbac (default: all)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(python go js az interop rbac)
port=${COFFER_PORT:-8443}
work=$(mktemp -d)
server_pid=
hosts_backup=

cleanup() {
	status=$?
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ -n "$hosts_backup" ]; then
		cat "$hosts_backup" >/etc/hosts
	fi
	if [ $status -ne 0 ] && [ -f "$work/server.log" ]; then
		echo "--- last lines of the server log ---" >&2
		tail -n 40 "$work/server.log" >&2
	fi
	rm -rf "$work"
	exit $status
}
trap cleanup EXIT INT TERM

echo "compat: building coffer"
go build -o "$work/coffer" ./cmd/coffer

echo "compat: starting coffer serve --dev on 127.0.0.1:$port"
"$work/coffer" serve --dev --data "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
boot=$work/data/bootstrap.json
for _ in $(seq 1 100); do
	if [ -f "$boot" ] && curl -fsS --cacert "$work/data/ca.pem" "https://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
		break
	fi
	kill -0 "$server_pid" 2>/dev/null || { echo "compat: the server exited" >&2; exit 1; }
	sleep 0.2
done
[ -f "$boot" ] || { echo "compat: no bootstrap.json after 20s" >&2; exit 1; }
export COFFER_BOOTSTRAP=$boot
ca=$(python3 -c "import json; print(json.load(open('$boot'))['caFile'])")
host=$(python3 -c "import json,urllib.parse; print(urllib.parse.urlparse(json.load(open('$boot'))['hsmUrl']).hostname)")

if [ "$(id -u)" != 0 ]; then
	echo "compat: must run as root to map $host in /etc/hosts" >&2
	exit 1
fi
hosts_backup=$work/hosts.backup
cp /etc/hosts "$hosts_backup"
echo "127.0.0.1 $host" >>/etc/hosts

run_python() {
	for setup in A C; do
		echo "compat: python SDK, set-up $setup"
		COFFER_SETUP=$setup REQUESTS_CA_BUNDLE=$ca /usr/bin/python3 -W ignore::ResourceWarning compat/python/keys_test.py
	done
}
run_go() {
	for setup in A C; do
		echo "compat: go SDK, set-up $setup"
		(cd compat/go && COFFER_SETUP=$setup go test -count=1 -v ./... 2>&1 | tail -n 30; exit "${PIPESTATUS[0]}")
	done
}
run_js() {
	(cd compat/js && npm ci --no-audit --no-fund --loglevel=error)
	for setup in A C; do
		echo "compat: js SDK, set-up $setup"
		(cd compat/js && COFFER_SETUP=$setup NODE_EXTRA_CA_CERTS=$ca npm test --silent)
	done
}
# The Contoso separation-of-duties tutorial: the directory is populated with
# the coffer CLI, then the Python SDKs play every party.
run_rbac() {
	echo "compat: Contoso separation of duties (python azure-keyvault-administration)"
	local cli=$work/rbac-cli
	coffer() { COFFER_CONFIG_DIR=$cli "$work/coffer" "$@"; }
	coffer login --bootstrap "$boot" -o none
	pw() { python3 -c 'import secrets; print("C0ffer-" + secrets.token_urlsafe(12))'; }
	declare -A upn=([security]=alice@contoso.test [devops]=dave@contoso.test [devops2]=dana@contoso.test [auditor]=audrey@contoso.test)
	python3 -c 'import json; json.dump({"users": {}, "groups": {}, "resources": {}}, open("'"$work"'/contoso.json", "w"))'
	add() { # section key json-file-or-string
		python3 - "$work/contoso.json" "$@" <<'PY'
import json, sys
path, section, key, value = sys.argv[1:]
d = json.load(open(path))
d[section][key] = json.loads(value)
json.dump(d, open(path, "w"))
PY
	}
	for u in security devops devops2 auditor; do
		local p
		p=$(pw)
		oid=$(echo "$p" | coffer directory user create --upn "${upn[$u]}" --display-name "$u" --query objectId -o tsv)
		add users "$u" "{\"upn\": \"${upn[$u]}\", \"password\": \"$p\", \"objectId\": \"$oid\"}"
	done
	for g in security devops auditors; do
		oid=$(coffer directory group create --name "Contoso $g" --query objectId -o tsv)
		add groups "$g" "\"$oid\""
	done
	member() { coffer directory group member add "$(j groups "$1")" "$(j users "$2" objectId)"; }
	j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]]; print(d if len(sys.argv) < 5 else d[sys.argv[4]])' "$work/contoso.json" "$@"; }
	member security security
	member devops devops
	member devops devops2
	member auditors auditor
	for r in contoso-app-vm contosologstorage; do
		header=$(coffer directory resource create "$r" --query identityHeader -o tsv)
		oid=$(coffer directory mi system-assign --resource "$r" --query objectId -o tsv)
		add resources "$r" "{\"identityHeader\": \"$header\", \"objectId\": \"$oid\"}"
	done
	python3 - "$work/contoso.json" "$work/coffer" "$cli" "$port" <<'PY'
import json, sys
path, coffer, cli, port = sys.argv[1:]
d = json.load(open(path))
d["identityEndpoint"] = f"https://localhost:{port}/msi/token"
json.dump(d, open(path, "w"))
# The test removes a group member with the coffer CLI signed in as above.
open(cli + "/coffer", "w").write(f"#!/bin/sh\nCOFFER_CONFIG_DIR={cli} exec {coffer} \"$@\"\n")
PY
	chmod +x "$cli/coffer"
	python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["coffer"]=sys.argv[2]; json.dump(d, open(p,"w"))' "$work/contoso.json" "$cli/coffer"
	COFFER_CONTOSO=$work/contoso.json REQUESTS_CA_BUNDLE=$ca /usr/bin/python3 -W ignore::ResourceWarning compat/python/contoso_test.py

	echo "compat: coffer role and setting commands"
	fail() { echo "compat: coffer role: $*" >&2; return 1; }
	local def name got
	def=$(coffer role definition create --role-definition '{"roleName":"CLI Signer","description":"d","dataActions":["Microsoft.KeyVault/managedHsm/keys/sign/action","Microsoft.KeyVault/managedHsm/keys/read/action"],"notDataActions":["Microsoft.KeyVault/managedHsm/keys/read/action"]}' --query name -o tsv)
	[ "$(coffer role definition show "CLI Signer" --query 'permissions[0].notDataActions[0]' -o tsv)" = Microsoft.KeyVault/managedHsm/keys/read/action ] || fail "definition show by name"
	coffer role definition update --role-definition "{\"name\":\"$def\",\"roleName\":\"CLI Signer\",\"dataActions\":[\"Microsoft.KeyVault/managedHsm/keys/verify/action\"]}" -o none
	[ "$(coffer role definition show "$def" --query 'permissions[0].dataActions' -o tsv)" = Microsoft.KeyVault/managedHsm/keys/verify/action ] || fail "definition update"
	[ "$(coffer role definition list --custom-role-only --query 'length(@)')" -ge 1 ] || fail "custom-only list"
	name=$(coffer role assignment create --role "CLI Signer" --assignee dana@contoso.test --scope /keys/contoso-signing --query name -o tsv)
	got=$(coffer role assignment list --assignee dana@contoso.test --query "[?name=='$name'] | [0].join(' @ ', [roleDefinitionName, scope])" -o tsv)
	[ "$got" = "CLI Signer @ /keys/contoso-signing" ] || fail "assignment list --assignee by user name gave '$got'"
	[ "$(coffer role assignment show "$name" --scope /keys/contoso-signing --query principalId -o tsv)" = "$(j users devops2 objectId)" ] || fail "assignment show"
	coffer role assignment create --role "Managed HSM Crypto Auditor" --assignee "Contoso auditors" -o none 2>/dev/null && fail "a duplicate assignment was accepted"
	set +e
	coffer role assignment create --role "No Such Role" --assignee dana@contoso.test -o none 2>"$work/err"; rc=$?
	set -e
	[ $rc = 2 ] && grep -q 'no role definition is named' "$work/err" || fail "unknown role name: rc=$rc $(cat "$work/err")"
	coffer role definition delete "CLI Signer" -o none
	coffer role assignment delete "$name" --scope /keys/contoso-signing -o none
	set +e
	coffer role assignment show "$name" --scope /keys/contoso-signing -o none 2>"$work/err"; rc=$?
	set -e
	[ $rc = 1 ] && grep -q RoleAssignmentNotFound "$work/err" || fail "deleted assignment still shown: rc=$rc $(cat "$work/err")"
	coffer setting update AllowKeyManagementOperationsThroughARM --value true -o none
	[ "$(coffer setting show AllowKeyManagementOperationsThroughARM --query value -o tsv)" = true ] || fail "setting update"
	[ "$(coffer setting list --query "[?name=='AllowKeyManagementOperationsThroughARM'].value | [0]" -o tsv)" = true ] || fail "setting list"
	coffer setting update AllowKeyManagementOperationsThroughARM --value maybe -o none 2>/dev/null && fail "a bad setting value was accepted"
	echo "compat: coffer role and setting commands passed"
}
run_az() { echo "compat: azure CLI"; bash compat/az/run.sh; }
run_interop() { echo "compat: openssl interop"; REQUESTS_CA_BUNDLE=$ca /usr/bin/python3 -W ignore::ResourceWarning compat/interop/openssl_check.py; }

for s in "${suites[@]}"; do
	"run_$s"
done
# Whatever ran, the audit log must account for every request exactly once
# and hold no secret.
REQUESTS_CA_BUNDLE=$ca python3 compat/audit_check.py "$work/data" "$work/server.log" "$work/contoso.json"
echo "compat: all suites passed (${suites[*]})"
