#!/bin/bash
# KMS endpoint names, the daemon against botocore, live: for every region
# botocore lists for KMS in aws, aws-cn and aws-us-gov (and one region of
# each that botocore does not list yet, which its partition patterns still
# take), with FIPS and dual-stack off and on, the URL botocore's endpoint
# rule set resolves (a KMS client's endpoint_url, built offline) must be the
# URL kmscanceld --check-config prints for that region.  test-endpoint.c
# keeps a few of these names as a table; this compares them all, with
# whatever botocore is installed.  Nothing is connected: neither side sends
# a request.  Skips visibly without botocore.
. "$top_srcdir/tests/integration/lib.sh"

python3 -c 'import botocore' 2>/dev/null || { log "SKIP: botocore is not installed"; exit 77; }

# "REGION FIPS DUALSTACK URL" lines, from botocore.
env -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_KMS python3 - >"$T/expected" 2>"$T/botocore.err" <<'PY' ||
import botocore.session
from botocore.config import Config

session = botocore.session.get_session()
unlisted = {'aws': 'eu-north-9', 'aws-cn': 'cn-south-7', 'aws-us-gov': 'us-gov-north-5'}
for partition in ('aws', 'aws-cn', 'aws-us-gov'):
    regions = session.get_available_regions('kms', partition_name=partition)
    if not regions:
        raise SystemExit(f'botocore lists no KMS region in {partition}')
    for region in sorted(set(regions) | {unlisted[partition]}):
        for fips in (False, True):
            for dualstack in (False, True):
                client = session.create_client(
                    'kms', region_name=region, aws_access_key_id='AKIDEXAMPLE', aws_secret_access_key='x',
                    config=Config(use_fips_endpoint=fips, use_dualstack_endpoint=dualstack))
                print(region, str(fips).lower(), str(dualstack).lower(), client.meta.endpoint_url)
PY
	die "botocore could not resolve the endpoints: $(cat "$T/botocore.err")"
log "botocore $(python3 -c 'import botocore; print(botocore.__version__)'): $(wc -l <"$T/expected") combinations"
for p in 'amazonaws.com$' 'amazonaws.com.cn$' 'api.aws$' 'api.amazonwebservices.com.cn$' '^[a-z-]*-gov-[a-z0-9-]* true '; do
	grep -q -- "$p" "$T/expected" || fail "botocore's list has no line matching $p: the comparison would miss a case"
done

printf '[KMS]\n' >"$T/kmscanceld.conf"
# daemon_endpoint REGION FIPS DUALSTACK: the endpoint --check-config prints.
daemon_endpoint() {
	env -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_KMS AWS_REGION="$1" AWS_USE_FIPS_ENDPOINT="$2" \
		AWS_USE_DUALSTACK_ENDPOINT="$3" "$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config 2>&1 |
		sed -n 's/^endpoint: *\([^ ]*\).*/\1/p'
}

differ=()
n=0
while read -r region fips dualstack url; do
	got=$(daemon_endpoint "$region" "$fips" "$dualstack")
	n=$((n + 1))
	[ "$got" = "$url" ] || differ+=("$region fips=$fips dualstack=$dualstack: botocore $url, kmscanceld ${got:-(nothing)}")
done <"$T/expected"
if [ ${#differ[@]} -eq 0 ]; then
	pass "all $n KMS endpoint names are botocore's"
else
	fail "${#differ[@]} of $n endpoint names differ from botocore's:"
	printf '  %s\n' "${differ[@]}" >&2
fi

# The same through the profile's keys and through the daemon's FIPS=.
printf '[default]\nregion = us-gov-east-1\nuse_dualstack_endpoint = true\n' >"$T/aws-config"
printf '[KMS]\nFIPS=yes\n' >"$T/fips.conf"
got=$(env -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_KMS AWS_CONFIG_FILE="$T/aws-config" \
	"$KMSCANCELD" --config "$T/fips.conf" --check-config 2>&1 | sed -n 's/^endpoint: *\([^ ]*\).*/\1/p')
want=$(grep '^us-gov-east-1 true true ' "$T/expected" | cut -d' ' -f4)
[ -n "$want" ] && [ "$got" = "$want" ] && pass "profile region and use_dualstack_endpoint with FIPS=yes: $got" ||
	fail "profile + FIPS=yes: kmscanceld ${got:-(nothing)}, botocore ${want:-(nothing)}"

# The comparison can fail: an endpoint URL override is not botocore's name.
got=$(env AWS_ENDPOINT_URL_KMS=https://127.0.0.1:9 AWS_REGION=us-east-1 "$KMSCANCELD" --config "$T/kmscanceld.conf" \
	--check-config 2>&1 | sed -n 's/^endpoint: *\([^ ]*\).*/\1/p')
[ "$got" = https://127.0.0.1:9 ] && pass "self-check: an override shows as itself, not as a derived name" ||
	fail "override shown as ${got:-(nothing)}"
exit 0
