#!/bin/bash
# STS dual-stack names (use_dualstack_endpoint / AWS_USE_DUALSTACK_ENDPOINT),
# compared with botocore's, run here offline (sts-botocore.py stops every
# call before it is sent): regions of aws, aws-cn and aws-us-gov and the
# global one, each with and without FIPS and dual-stack, under regional and
# legacy sts_regional_endpoints, as `kmscanceld --check-config` shows them.
# The one deliberate difference: FIPS or dual-stack with the global region,
# where botocore makes names that do not exist (sts.aws-global.api.aws),
# the daemon names none.  sts-endpoints.sh reaches the dual-stack names on
# loopback.  Nothing is sent anywhere here.
. "$top_srcdir/tests/integration/lib.sh"

REGIONS=(us-east-1 eu-west-1 ca-west-1 cn-north-1 cn-northwest-1 us-gov-west-1 us-gov-east-1 aws-global)
for region in "${REGIONS[@]}"; do
	for fips in 0 1; do for dual in 0 1; do for mode in regional legacy; do
		echo "$region $fips $dual $mode"
	done; done; done
done >"$T/cases"

# test-env.sh points every endpoint at a closed loopback port: lifted for both
# sides of the comparison (neither sends anything).
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_STS
python3 "$top_srcdir/tests/integration/sts-botocore.py" <"$T/cases" >"$T/botocore" 2>"$T/botocore.err"
rc=$?
if [ "$rc" = 77 ]; then
	echo "SKIP: no botocore: the names are not compared (test-sts-endpoint.c still checks its table)"
	compare=false
elif [ "$rc" != 0 ]; then
	die "sts-botocore.py: $(cat "$T/botocore.err")"
else
	compare=true
fi

# daemon_sts REGION FIPS DUAL MODE: the STS endpoint --check-config shows.
daemon_sts() {
	local env=(AWS_REGION="$1" AWS_STS_REGIONAL_ENDPOINTS="$4")
	[ "$2" = 1 ] && env+=(AWS_USE_FIPS_ENDPOINT=true)
	[ "$3" = 1 ] && env+=(AWS_USE_DUALSTACK_ENDPOINT=true)
	env "${env[@]}" "$KMSCANCELD" --config /dev/null --check-config 2>&1 | sed -n 's/^sts: *//p'
}

if $compare; then
	same=0 differ=0 n=0
	while read -r region fips dual mode; do
		n=$((n + 1))
		want=$(sed -n "${n}p" "$T/botocore")
		got=$(daemon_sts "$region" "$fips" "$dual" "$mode")
		if [ "$got" = "$want" ]; then
			same=$((same + 1))
		elif [ "$region" = aws-global ] && [ "$fips$dual" != 00 ] && [[ "$got" == "(none: "* ]]; then
			differ=$((differ + 1)) # botocore: sts[-fips].aws-global.…, which does not exist
		else
			fail "$region fips=$fips dualstack=$dual $mode: daemon '$got', botocore '$want'"
		fi
	done <"$T/cases"
	[ "$same" = 58 ] && [ "$differ" = 6 ] && pass "64 cases: 58 names as botocore's, 6 global FIPS/dual-stack refused" ||
		fail "$same same, $differ refused of $n"
fi
expect_contains "$(daemon_sts us-gov-west-1 1 1 regional)" "https://sts-fips.us-gov-west-1.api.aws" \
	"GovCloud FIPS dual-stack: sts-fips on api.aws"
expect_contains "$(daemon_sts cn-north-1 0 1 regional)" "https://sts.cn-north-1.api.amazonwebservices.com.cn" \
	"China dual-stack: its own suffix"
expect_contains "$(daemon_sts us-east-1 0 1 legacy)" "https://sts.us-east-1.api.aws" \
	"dual-stack is regional even under legacy"
expect_contains "$(daemon_sts aws-global 0 1 regional)" "dual-stack STS endpoints need a region" \
	"the global region with dual-stack: the message says what is missing"

exit 0
