#!/usr/bin/env bash
# The Azure CLI (Debian's azure-cli) against a live Coffer server: register
# Coffer as a cloud, log in as a service principal with a secret and with a
# certificate, get tokens, get random bytes with `az keyvault key random`,
# and drive the data plane with `az rest`.
#
# Debian's azure-cli 2.45 pairs with a python3-azure snapshot that breaks
# most `az keyvault` data-plane commands against any server (Azure
# included), so this suite uses the commands that work: login,
# get-access-token, key random, and az rest for everything else.
#
# Needs: COFFER_BOOTSTRAP (bootstrap.json of `coffer serve --dev`) and the
# pool's host name resolving locally.
set -euo pipefail

boot=${COFFER_BOOTSTRAP:?COFFER_BOOTSTRAP is not set}
j() { python3 -c "import json,sys; print(json.load(open('$boot'))['$1'])"; }
tenant=$(j tenantId); client=$(j clientId); secret=$(j clientSecret)
authority=$(j authorityHost); hsm_url=$(j hsmUrl); audience=$(j audience); ca=$(j caFile)
pool=$(j poolName); suffix=$(j dnsSuffix)
port=${hsm_url##*:}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AZURE_CONFIG_DIR=$work/azconfig
export AZURE_CORE_COLLECT_TELEMETRY=false
export AZURE_CORE_ONLY_SHOW_ERRORS=true
export REQUESTS_CA_BUNDLE=$ca

fail() { echo "az suite: FAIL: $*" >&2; exit 1; }
step() { echo "az suite: $*"; }

cat > "$work/cloud.json" <<JSON
{"endpoints": {"activeDirectory": "$authority/adfs",
  "activeDirectoryResourceId": "https://management.core.windows.net/",
  "activeDirectoryGraphResourceId": "https://graph.windows.net/",
  "microsoftGraphResourceId": "$authority/",
  "resourceManager": "$authority/"},
 "suffixes": {"mhsmDns": ".$suffix:$port", "keyvaultDns": ".vault.$suffix:$port", "storageEndpoint": "core.windows.net"}}
JSON

step "cloud register"
az cloud register -n Coffer --cloud-config @"$work/cloud.json" >/dev/null
az cloud set -n Coffer >/dev/null

step "login with a client secret"
az login --service-principal -u "$client" -p "$secret" --tenant "$tenant" >"$work/login.json"
python3 - "$work/login.json" "$tenant" <<'PY' || fail "az login output"
import json, sys
subs = json.load(open(sys.argv[1]))
assert subs and subs[0]["tenantId"] == sys.argv[2] and subs[0]["state"] == "Enabled", subs
PY

step "get-access-token for the pool audience"
tok=$(az account get-access-token --resource "$audience" --query accessToken -o tsv)
[ -n "$tok" ] || fail "empty access token"
python3 - "$tok" "$audience" "$client" <<'PY' || fail "token claims"
import base64, json, sys
payload = sys.argv[1].split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
assert claims["aud"] == sys.argv[2], claims["aud"]
assert claims.get("appid", claims.get("azp")) == sys.argv[3], claims
PY

step "az keyvault key random"
rnd=$(az keyvault key random --hsm-name "$pool" --count 16 --query value -o tsv)
# The CLI prints the bytes in Python's repr of standard base64 (b'...').
python3 -c "import base64,sys; v=sys.argv[1].removeprefix(\"b'\").removesuffix(\"'\"); assert len(base64.b64decode(v))==16, v" "$rnd" \
  || fail "key random returned $rnd"

step "az rest: create, sign, get, list, delete"
key=az-$(date +%s)-$RANDOM
created=$(az rest --method post --url "$hsm_url/keys/$key/create?api-version=7.4" --resource "$audience" \
  --body '{"kty":"EC-HSM","crv":"P-256","key_ops":["sign","verify"]}')
echo "$created" | python3 -c "import json,sys; b=json.load(sys.stdin); assert b['key']['kty']=='EC-HSM' and b['key']['kid'].startswith('$hsm_url/keys/$key/'), b" \
  || fail "create returned $created"
digest=$(printf 'az suite' | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
sig=$(az rest --method post --url "$hsm_url/keys/$key/sign?api-version=7.4" --resource "$audience" \
  --body "{\"alg\":\"ES256\",\"value\":\"$digest\"}" --query value -o tsv)
verified=$(az rest --method post --url "$hsm_url/keys/$key/verify?api-version=7.4" --resource "$audience" \
  --body "{\"alg\":\"ES256\",\"digest\":\"$digest\",\"value\":\"$sig\"}" --query value -o tsv)
[ "$verified" = "true" ] || fail "verify returned $verified"
az rest --method get --url "$hsm_url/keys?api-version=7.4" --resource "$audience" --query "value[].kid" -o tsv | grep -q "/keys/$key\$" \
  || fail "list does not show $key"
az rest --method delete --url "$hsm_url/keys/$key?api-version=7.4" --resource "$audience" --query recoveryId -o tsv | grep -q "/deletedkeys/$key\$" \
  || fail "delete did not return a recovery id"

step "an error keeps Azure's shape"
if out=$(az rest --method get --url "$hsm_url/keys/no-such-key-$RANDOM?api-version=7.4" --resource "$audience" 2>&1); then
  fail "get of a missing key succeeded"
fi
echo "$out" | grep -q "KeyNotFound" || fail "missing-key error does not carry KeyNotFound: $out"

echo "az suite: PASS"
