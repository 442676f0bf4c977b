#!/usr/bin/env bash
# Identity end to end, with real processes and unmodified clients:
#  - managed identity: Go, Python and JS apps configured only by the App
#    Service variables (IDENTITY_ENDPOINT, IDENTITY_HEADER) and
#    DefaultAzureCredential;
#  - the same apps with AZURE_TENANT_ID=adfs, AZURE_AUTHORITY_HOST and a
#    client secret (the server then challenges with the adfs tenant);
#  - az login with a PEM certificate;
#  - groups (nested) drive authorization; removing a member, disabling a
#    principal or resetting its credentials cut it off on its next request;
#  - a second coffer server acting as an organisation's identity provider is
#    trusted through configuration, and revoking that trust (SIGHUP) stops
#    its tokens.
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
		for f in "$work"/*.log; do echo "--- $f"; tail -n 30 "$f"; done >&2
	fi
	rm -rf "$work"
	exit $status
}
trap cleanup EXIT INT TERM
fail() { echo "identity suite: FAIL: $*" >&2; exit 1; }
step() { echo "identity suite: $*"; }
j() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d'+sys.argv[2]))" "$1" "$2"; }

go build -o "$work/coffer" ./cmd/coffer
coffer() { COFFER_CONFIG_DIR=$work/cli "$work/coffer" "$@"; }
echo "127.0.0.1 dev.mhsm.localhost" >>/etc/hosts

start() { # name port config [extra flags...]
	local name=$1 port=$2 cfg=$3
	shift 3
	"$work/coffer" serve --dev --data "$work/$name" --listen "127.0.0.1:$port" --config "$cfg" "$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	eval "${name}_pid=$!"
	for _ in $(seq 1 100); do
		[ -f "$work/$name/bootstrap.json" ] && curl -fsS --cacert "$work/$name/ca.pem" "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return
		sleep 0.2
	done
	fail "server $name did not start"
}
stop() { kill "$1" && wait "$1" 2>/dev/null || true; }

echo '{}' >"$work/a.json"
start a 8443 "$work/a.json"
boot=$work/a/bootstrap.json
tenant=$(j "$boot" "['tenantId']"); audience=$(j "$boot" "['audience']"); ca=$(j "$boot" "['caFile']")
hsm=https://dev.mhsm.localhost:8443
coffer login --bootstrap "$boot" -o none

# A request with a token of the signed-in profile.
rest() { # method path [body] → prints body, returns 0 on 2xx
	local tok
	tok=$(coffer token --query accessToken -o tsv)
	curl -sS --cacert "$ca" -o "$work/resp" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
		"$hsm$2?api-version=7.4" ${3:+--data "$3"} >"$work/code"
	cat "$work/resp"
	[ "$(cat "$work/code")" -lt 300 ]
}
assign() { # principal role-guid
	rest PUT "/providers/Microsoft.Authorization/roleAssignments/$(python3 -c 'import uuid;print(uuid.uuid4())')" \
		"{\"properties\":{\"roleDefinitionId\":\"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/$2\",\"principalId\":\"$1\"}}" >/dev/null \
		|| fail "assigning role $2 to $1"
}
crypto_user=21dbd100-6940-42c2-9190-5d6cb909625b

step "managed identity through the App Service endpoint"
coffer directory resource create vm1 >"$work/vm1.json"
header=$(j "$work/vm1.json" "['identityHeader']")
coffer directory mi system-assign --resource vm1 >"$work/mi.json"
assign "$(j "$work/mi.json" "['objectId']")" $crypto_user
mi_env=(env -u AZURE_CLIENT_ID -u AZURE_CLIENT_SECRET -u AZURE_TENANT_ID IDENTITY_ENDPOINT=https://localhost:8443/msi/token IDENTITY_HEADER="$header"
	SSL_CERT_FILE="$ca" REQUESTS_CA_BUNDLE="$ca" NODE_EXTRA_CA_CERTS="$ca" COFFER_HSM_URL="$hsm")
(cd compat/envapp && "${mi_env[@]}" COFFER_KEY_NAME=mi-go go test -count=1 ./...) || fail "Go app with managed identity"
"${mi_env[@]}" COFFER_KEY_NAME=mi-py /usr/bin/python3 -W ignore::ResourceWarning compat/python/envapp.py || fail "Python app with managed identity"
(cd compat/js && npm ci --no-audit --no-fund --loglevel=error && "${mi_env[@]}" COFFER_KEY_NAME=mi-js node envapp.mjs) || fail "JS app with managed identity"

step "environment-only apps with a client secret and the adfs authority"
coffer directory sp create --name env-app >"$work/envsp.json"
assign "$(j "$work/envsp.json" "['principal']['objectId']")" $crypto_user
stop "$a_pid"
start a 8443 "$work/a.json" --challenge-tenant adfs
sp_env=(env AZURE_TENANT_ID=adfs AZURE_AUTHORITY_HOST=https://localhost:8443 AZURE_CLIENT_ID="$(j "$work/envsp.json" "['principal']['appId']")"
	AZURE_CLIENT_SECRET="$(j "$work/envsp.json" "['secret']")" SSL_CERT_FILE="$ca" REQUESTS_CA_BUNDLE="$ca" NODE_EXTRA_CA_CERTS="$ca" COFFER_HSM_URL="$hsm")
(cd compat/envapp && "${sp_env[@]}" COFFER_KEY_NAME=env-go go test -count=1 ./...) || fail "Go app with AZURE_TENANT_ID=adfs"
"${sp_env[@]}" COFFER_KEY_NAME=env-py /usr/bin/python3 -W ignore::ResourceWarning compat/python/envapp.py || fail "Python app with AZURE_TENANT_ID=adfs"
(cd compat/js && "${sp_env[@]}" COFFER_KEY_NAME=env-js node envapp.mjs) || fail "JS app with AZURE_TENANT_ID=adfs"
stop "$a_pid"
start a 8443 "$work/a.json"

step "az login with a PEM certificate"
export AZURE_CONFIG_DIR=$work/az AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_ONLY_SHOW_ERRORS=true REQUESTS_CA_BUNDLE=$ca
cat >"$work/cloud.json" <<JSON
{"endpoints": {"activeDirectory": "https://localhost:8443/adfs", "activeDirectoryResourceId": "https://management.core.windows.net/",
  "activeDirectoryGraphResourceId": "https://graph.windows.net/", "microsoftGraphResourceId": "https://localhost:8443/",
  "resourceManager": "https://localhost:8443/"},
 "suffixes": {"mhsmDns": ".mhsm.localhost:8443", "storageEndpoint": "core.windows.net"}}
JSON
az cloud register -n Coffer --cloud-config @"$work/cloud.json" >/dev/null && az cloud set -n Coffer >/dev/null
certsp_oid=$(j "$work/envsp.json" "['principal']['objectId']")
coffer directory sp credential add-cert "$certsp_oid" --generate "$work/sp.pem" -o none
az login --service-principal -u "$(j "$work/envsp.json" "['principal']['appId']")" -p "$work/sp.pem" --tenant "$tenant" >/dev/null || fail "az login with a certificate"
az account get-access-token --resource "$audience" --query accessToken -o tsv >/dev/null || fail "get-access-token after certificate login"
az rest --method post --url "$hsm/rng?api-version=7.4" --resource "$audience" --body '{"count":8}' >/dev/null || fail "az rest after certificate login"

step "groups drive authorization; cutting a principal off takes effect on its next request"
coffer directory sp create --name group-user >"$work/gsp.json"
gsp=$(j "$work/gsp.json" "['principal']['objectId']")
coffer directory group create --name outer >"$work/outer.json"
coffer directory group create --name inner >"$work/inner.json"
coffer directory group member add "$(j "$work/outer.json" "['objectId']")" "$(j "$work/inner.json" "['objectId']")"
coffer directory group member add "$(j "$work/inner.json" "['objectId']")" "$gsp"
assign "$(j "$work/outer.json" "['objectId']")" $crypto_user
gtok=$(curl -fsS --cacert "$ca" -d grant_type=client_credentials -d client_id="$(j "$work/gsp.json" "['principal']['appId']")" \
	--data-urlencode client_secret="$(j "$work/gsp.json" "['secret']")" -d scope="$audience/.default" \
	"https://localhost:8443/$tenant/oauth2/v2.0/token" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
gcall() { curl -sS --cacert "$ca" -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $gtok" -H 'Content-Type: application/json' \
	"$hsm/rng?api-version=7.4" --data '{"count":4}'; }
[ "$(gcall)" = 200 ] || fail "a member of a nested group was refused"
coffer directory group member remove "$(j "$work/inner.json" "['objectId']")" "$gsp"
[ "$(gcall)" = 403 ] || fail "removing the member did not revoke access on the next request"
coffer directory group member add "$(j "$work/inner.json" "['objectId']")" "$gsp"
[ "$(gcall)" = 200 ] || fail "adding the member back did not restore access"
coffer directory sp disable "$gsp" -o none
[ "$(gcall)" = 401 ] || fail "a disabled principal's token still works"
coffer directory sp enable "$gsp" -o none
[ "$(gcall)" = 200 ] || fail "re-enabling did not restore access"
coffer directory sp credential reset "$gsp" -o none
[ "$(gcall)" = 401 ] || fail "a token issued with a reset credential still works"

step "a trusted external issuer (a second coffer server)"
echo '{"dnsSuffix":"idp.localhost"}' >"$work/b.json"
start b 9443 "$work/b.json"
bboot=$work/b/bootstrap.json
btenant=$(j "$bboot" "['tenantId']")
btok() { curl -fsS --cacert "$work/b/ca.pem" -d grant_type=client_credentials -d client_id="$(j "$bboot" "['clientId']")" \
	--data-urlencode client_secret="$(j "$bboot" "['clientSecret']")" -d scope="$audience/.default" \
	"https://localhost:9443/$btenant/oauth2/v2.0/token" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])'; }
xcall() { curl -sS --cacert "$ca" -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
	"$hsm/rng?api-version=7.4" --data '{"count":4}'; }
ext=$(btok)
[ "$(xcall "$ext")" = 401 ] || fail "an untrusted issuer's token was accepted"
trust() { # tenant-id-to-require
	python3 - "$work/a.json" "$btenant" "$1" "$work/b/ca.pem" <<'PY'
import json, sys
path, btenant, want, ca = sys.argv[1:]
json.dump({"identity": {"externalIssuers": [{"issuer": f"https://localhost:9443/{btenant}/v2.0", "tenantId": want, "caFile": ca}]}}, open(path, "w"))
PY
	kill -HUP "$a_pid"
	sleep 1
}
trust "$btenant"
assign "$(j "$bboot" "['objectId']")" $crypto_user
[ "$(xcall "$ext")" = 200 ] || fail "a trusted external issuer's token was refused"
trust "00000000-0000-0000-0000-000000000000"
ext2=$(btok)
[ "$(xcall "$ext2")" = 401 ] || fail "an external token for the wrong tenant was accepted"
echo '{}' >"$work/a.json"
kill -HUP "$a_pid"
sleep 1
[ "$(xcall "$ext")" = 401 ] || fail "revoking trust did not stop the external issuer's tokens"

echo "identity suite: PASS"
