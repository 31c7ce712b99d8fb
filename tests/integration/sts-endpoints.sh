# STS endpoint names as botocore 1.43 derives them (test-sts-endpoint.c has
# the full table): the daemon learns its account with GetCallerIdentity at
# sts.REGION.amazonaws.com by default, sts-fips.REGION… with
# AWS_USE_FIPS_ENDPOINT, the global sts.amazonaws.com with
# AWS_STS_REGIONAL_ENDPOINTS=legacy in a region botocore sends there, and
# sts.us-gov-west-1.amazonaws.com for FIPS in GovCloud, and with
# AWS_USE_DUALSTACK_ENDPOINT sts[-fips].REGION.api.aws (China: its own
# suffix; sts-dualstack.sh compares them with botocore).  Every name reaches
# the fake STS through KMSCANCELD_CONNECT_TO on loopback (no DNS); the
# certificate names them and is checked against them.  IMDS is off, KMS is
# the fake on 127.0.0.1, and netguard fails the test on any name the map
# misses, so nothing here can reach AWS.
. "$top_srcdir/tests/integration/lib.sh"

NAMES=(sts.eu-west-1.amazonaws.com sts-fips.eu-west-1.amazonaws.com sts.amazonaws.com
	sts.us-gov-west-1.amazonaws.com sts.ca-west-1.amazonaws.com sts.eu-west-1.api.aws sts-fips.us-east-1.api.aws
	sts.cn-north-1.api.amazonwebservices.com.cn)
server_cert_for "${NAMES[@]}"
start_fake
connect_to=
for name in "${NAMES[@]}"; do connect_to+="${connect_to:+,}$name:443=127.0.0.1:$FAKE_STS_PORT"; done
# KMS stays on the fake too: the wrapper below lifts the KMS environment
# overrides, so the config file names it (its keys win over the environment).
printf '[AWS]\nEndpointURL=https://127.0.0.1:%s\n[KMS]\nRetryBase=50ms\n' "$FAKE_PORT" >"$T/kmscanceld.conf"
WRAPPER=${DAEMON_WRAPPER:-} # valgrind under check-valgrind
# kms_by_name_wrapper points STS at a closed port; lift that too.
DAEMON_WRAPPER=$(kms_by_name_wrapper "$connect_to" "env -u AWS_ENDPOINT_URL_STS $WRAPPER")

# expect_sts_host HOST SIGNING-REGION REGION [NAME=VALUE...]: a daemon in
# REGION with the settings given learns its account at HOST, signing for
# SIGNING-REGION.
expect_sts_host() {
	local host=$1 signing=$2 region=$3 last
	shift 3
	fake POST /reset >/dev/null
	DAEMON_ENV=(AWS_REGION="$region" "$@")
	start_daemon
	wait_account "$TEST_ACCOUNT" && pass "$region $*: account learned" || fail "$region $*: no account: $OUT"
	last=$(fake GET /sts/requests | sed -e 's/": /":/g')
	expect_contains "$last" "\"host\":\"$host\"" "$region $*: GetCallerIdentity went to $host"
	expect_contains "$last" "\"region\":\"$signing\"" "… signed for $signing"
	stop_daemon
}

expect_sts_host sts.eu-west-1.amazonaws.com eu-west-1 eu-west-1
expect_sts_host sts-fips.eu-west-1.amazonaws.com eu-west-1 eu-west-1 AWS_USE_FIPS_ENDPOINT=true
expect_sts_host sts.amazonaws.com us-east-1 eu-west-1 AWS_STS_REGIONAL_ENDPOINTS=legacy
expect_sts_host sts.ca-west-1.amazonaws.com ca-west-1 ca-west-1 AWS_STS_REGIONAL_ENDPOINTS=legacy
expect_sts_host sts.us-gov-west-1.amazonaws.com us-gov-west-1 us-gov-west-1 AWS_USE_FIPS_ENDPOINT=true
# Dual-stack: regional whatever sts_regional_endpoints says.
expect_sts_host sts.eu-west-1.api.aws eu-west-1 eu-west-1 AWS_USE_DUALSTACK_ENDPOINT=true \
	AWS_STS_REGIONAL_ENDPOINTS=legacy
expect_sts_host sts-fips.us-east-1.api.aws us-east-1 us-east-1 AWS_USE_DUALSTACK_ENDPOINT=true \
	AWS_USE_FIPS_ENDPOINT=true
expect_sts_host sts.cn-north-1.api.amazonwebservices.com.cn cn-north-1 cn-north-1 AWS_USE_DUALSTACK_ENDPOINT=true

# The profile's sts_regional_endpoints, as botocore reads it.
printf '[default]\nsts_regional_endpoints = legacy\n' >"$T/aws-config"
expect_sts_host sts.amazonaws.com us-east-1 eu-west-1 AWS_CONFIG_FILE="$T/aws-config"

# A value botocore refuses keeps the daemon from starting, naming it.
env AWS_ACCESS_KEY_ID="$TEST_AKID" AWS_SECRET_ACCESS_KEY="$TEST_SECRET" AWS_REGION=eu-west-1 \
	AWS_STS_REGIONAL_ENDPOINTS=global "$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config >"$T/check" 2>&1
rc=$?
[ "$rc" -ne 0 ] && pass "a bad AWS_STS_REGIONAL_ENDPOINTS is refused" || fail "AWS_STS_REGIONAL_ENDPOINTS=global accepted"
expect_contains "$(cat "$T/check")" "AWS_STS_REGIONAL_ENDPOINTS: 'global' is not regional or legacy" "… with a message naming it"
exit 0
