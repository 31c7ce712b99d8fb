#!/bin/bash
# kmscancel cancel/describe --account and --region (io.kmscancel's account
# and region parameters): a bare key ID goes to the region given, with the
# credentials of the account given; the local policy and the audit see
# that region; a key ARN that names another account or region is refused
# (InvalidKeyId) before anything is sent; a bad --account or --region is a
# usage error before any request.  Regional names are mapped to loopback
# fakes with KMSCANCELD_CONNECT_TO, as in routing.sh.
. "$top_srcdir/tests/integration/lib.sh"

me=$(id -u)
A=$TEST_ACCOUNT # the default credentials' own account
C=777788889999  # [Account C] Profile=prod
AKID_C=AKIDACCOUNTC00000001
SECRET_C=account-c/secret/do-not-use
KC=3234abcd-12ab-34cd-56ef-1234567890ab
EU=eu-west-1

printf '%s PendingDeletion\n%s PendingDeletion %s\n' "$KEY1" "$KC" "$C" >"$T/keys"
printf '[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AKID_C" "$SECRET_C" >"$T/credentials"
DAEMON_ENV=(AWS_SHARED_CREDENTIALS_FILE="$T/credentials")

start_fake --account-creds "$C:$AKID_C:$SECRET_C" # us-east-1, the default region
declare -A PORT ADMIN
PORT[us-east-1]=$FAKE_PORT ADMIN[us-east-1]=$FAKE_ADMIN_PORT
start_region_fakes $EU
connect_to="kms.us-east-1.amazonaws.com:443=127.0.0.1:${PORT[us-east-1]},kms.$EU.amazonaws.com:443=127.0.0.1:${PORT[$EU]}"

# Bare key IDs of the default account: allowed in eu-west-1 only.  Account
# C's keys: describe only, in any region.
cat >"$T/kmscanceld.conf" <<CONF
[AWS]
Account=$A
[KMS]
RetryBase=50ms
[Account $C]
Profile=prod
[Policy]
AllowRoot=no
Allow=user:$me cancel,describe region:$EU
Allow=user:$me describe account:$C
CONF
DAEMON_WRAPPER=$(kms_by_name_wrapper "$connect_to" "${DAEMON_WRAPPER:-}")
start_daemon

requests() { bash "$FAKE_ADMIN" "${ADMIN[$1]}" GET /requests | sed -e 's/": /":/g'; }
requests_total() { echo "$(($(requests us-east-1 | grep -o '"host"' | wc -l) + $(requests $EU | grep -o '"host"' | wc -l)))"; }
audit_has() { grep -F "audit event=$1" "$T/daemon.log" | grep -F -- "$2" | grep -qF -- "$3"; }
expect_audit() { if audit_has "$2" "$3" "$4"; then pass "audit: $1"; else fail "audit: $1: no $2 line with '$3' and '$4': $(grep -F audit "$T/daemon.log")"; fi; }

# --- bad values: usage errors, nothing sent ----------------------------------
before=$(requests_total)
for bad in "--region EU-WEST-1" "--region -eu" "--region eu_west_1" "--region ''" "--account 12345678901" \
	"--account 1234567890123" "--account 12345678901x"; do
	eval "run_cli describe $bad $KEY1"
	expect_rc 2 "describe $bad is a usage error"
	eval "run_cli cancel $bad $KEY1"
	expect_rc 2 "cancel $bad is a usage error"
done
expect_contains "$ERR" "invalid --account" "the message names the option"
[ "$(requests_total)" = "$before" ] && pass "no request for a bad option" || fail "bad options reached KMS"
grep -q "key=$KEY1" "$T/daemon.log" && fail "a call with a bad option reached kmscanceld" ||
	pass "no call with a bad option reached kmscanceld"

# --- --region: the endpoint, the policy and the audit ------------------------
run_cli describe "$KEY1"
expect_rc 1 "a bare key ID in the default region (us-east-1) is refused by a region:$EU rule"
expect_audit "the refusal names the default region" decision "decision=deny" "region=us-east-1"
run_cli describe --region us-east-1 "$KEY1"
expect_rc 1 "--region us-east-1: refused too"

run_cli --json describe --region $EU "$KEY1"
expect_rc 0 "describe --region $EU of a bare key ID"
expect_contains "$OUT" "\"keyId\":\"arn:aws:kms:$EU:$A:key/$KEY1\"" "the reply's ARN is in $EU"
expect_contains "$(requests $EU)" "\"host\":\"kms.$EU.amazonaws.com\"" "the request went to $EU's endpoint"
expect_audit "the allow names --region" decision "decision=allow" "region=$EU"
expect_audit "the outcome names --region" outcome "outcome=success" "region=$EU"

us_before=$(requests us-east-1 | grep -o '"host"' | wc -l)
run_cli cancel --region $EU "$KEY1"
expect_rc 0 "cancel --region $EU of a bare key ID"
[ "$(bash "$FAKE_ADMIN" "${ADMIN[$EU]}" GET "/keys/$KEY1" | sed -n 's/.*"KeyState": *"\([A-Za-z]*\)".*/\1/p')" = Disabled ] &&
	pass "the key is Disabled in $EU" || fail "$EU's key: $(bash "$FAKE_ADMIN" "${ADMIN[$EU]}" GET "/keys/$KEY1")"
[ "$(key_state "$KEY1")" = PendingDeletion ] && pass "us-east-1's key untouched" || fail "us-east-1's key: $(key_state "$KEY1")"
[ "$(requests us-east-1 | grep -o '"host"' | wc -l)" = "$us_before" ] && pass "nothing sent to us-east-1" ||
	fail "the cancel reached us-east-1"
# --region before the command is not a global option.
run_cli --region $EU describe "$KEY1"
expect_rc 2 "--region belongs to the command"

# --- --account: that account's credentials ------------------------------------
run_cli --json describe --account $C "$KC"
expect_rc 0 "describe --account $C of a bare key ID"
expect_contains "$OUT" "\"keyId\":\"arn:aws:kms:us-east-1:$C:key/$KC\"" "the reply's ARN is account $C's"
[ "$(fake_stat wrongAccount)" = 0 ] && pass "signed with account $C's credentials" ||
	fail "wrongAccount=$(fake_stat wrongAccount)"
expect_audit "the outcome names the account's credentials" outcome "outcome=success" \
	"account=$C credentials=\"account $C, profile prod\""
run_cli describe --account $C --region $EU "$KC"
expect_contains "$(requests $EU)" "\"accessKeyId\":\"$AKID_C\"" "--account with --region: $EU's endpoint, account $C's credentials"
expect_audit "… and the audit says $EU" decision "key=$KC" "region=$EU"
run_cli cancel --account $C "$KC"
expect_rc 1 "the policy sees the account: account:$C allows no cancel"

# --- a key ARN and --account/--region that disagree: InvalidKeyId ----------------
before=$(requests_total)
run_cli describe --account $C "arn:aws:kms:$EU:$A:key/$KEY1"
expect_rc 2 "--account $C with an ARN of account $A"
expect_contains "$ERR" "another account" "the message says the account differs"
run_cli cancel --region us-east-1 "arn:aws:kms:$EU:$A:key/$KEY1"
expect_rc 2 "--region us-east-1 with an ARN in $EU"
expect_contains "$ERR" "another region" "the message says the region differs"
expect_audit "the reject is audited" reject "key=arn:aws:kms:$EU:$A:key/$KEY1" "region parameter disagree"
[ "$(requests_total)" = "$before" ] && pass "nothing sent for a disagreeing ARN" || fail "a disagreeing ARN reached KMS"
run_cli --json describe --account $A --region $EU "arn:aws:kms:$EU:$A:key/$KEY1"
expect_rc 0 "an ARN with the same --account and --region"
stop_daemon
exit 0
