#!/bin/bash
# Which credentials win, and which configurations are errors: the daemon
# against botocore, live, for one set of shared config and credentials files
# and a series of environments.  botocore's credential resolver runs with
# IMDS disabled and nothing on the network: its role sources are deferred
# (nothing is fetched until used), so the chain it built is read from its
# fetchers; a credential_process it runs.  The daemon's choice is what
# kmscanceld --check-config says ("credentials:"), which reads every source
# and fetches nothing.  Both are reduced to one outcome line:
#   static SOURCE LAST4          keys (environment, credentials file, config file)
#   role ARN... / LAST4          a role chain, outermost first, and the keys it starts from
#   web-identity ARN | process   a web identity role, a credential_process
#   error                        refused (with words each message must contain)
# Where the daemon differs from botocore on purpose (kmscanceld(8), AWS
# SETTINGS), the difference itself is asserted.  Skips visibly without
# botocore.
. "$top_srcdir/tests/integration/lib.sh"

python3 -c 'import botocore' 2>/dev/null || { log "SKIP: botocore is not installed"; exit 77; }

ENVK=AKIDENVIRONMENT0001
CRED=AKIDCREDSFILE000002
CONF=AKIDCONFIGFILE00003
BASE=AKIDSOURCEBASE00004
PROC=AKIDPROCESS00000005
TOP=arn:aws:iam::777788889999:role/Top
MID=arn:aws:iam::444455556666:role/Mid
WEB=arn:aws:iam::777788889999:role/Web

cat >"$T/process" <<EOF
#!/bin/sh
printf '{"Version": 1, "AccessKeyId": "$PROC", "SecretAccessKey": "process-secret"}\n'
EOF
chmod +x "$T/process"
echo token >"$T/token"
cat >"$T/aws-config" <<EOF
[default]
aws_access_key_id = $CONF
aws_secret_access_key = config-secret

[profile both]
aws_access_key_id = $CONF
aws_secret_access_key = config-secret

[profile config-only]
aws_access_key_id = $CONF
aws_secret_access_key = config-secret

[profile process-over-config]
credential_process = $T/process
aws_access_key_id = $CONF
aws_secret_access_key = config-secret

[profile credentials-over-process]
credential_process = $T/process

[profile top]
role_arn = $TOP
source_profile = mid

[profile mid]
role_arn = $MID
source_profile = base

[profile base]
aws_access_key_id = $BASE
aws_secret_access_key = base-secret
role_arn = arn:aws:iam::111122223333:role/NeverAssumed
source_profile = mid

[profile from-credentials]
role_arn = $TOP
source_profile = both

[profile env-source]
role_arn = $TOP
credential_source = Environment

[profile webid]
role_arn = $WEB
web_identity_token_file = $T/token

[profile loop-a]
role_arn = $TOP
source_profile = loop-b

[profile loop-b]
role_arn = $MID
source_profile = loop-a

[profile no-source]
role_arn = $TOP
source_profile = missing

[profile two-sources]
role_arn = $TOP
source_profile = base
credential_source = Environment

[profile bad-source]
role_arn = $TOP
credential_source = Ec2Metadata

[profile with-mfa]
role_arn = $TOP
source_profile = base
mfa_serial = arn:aws:iam::111122223333:mfa/operator

[profile login]
login_session = arn:aws:iam::111122223333:user/operator
aws_access_key_id = $CONF
aws_secret_access_key = config-secret

[profile sso]
sso_session = corp
sso_account_id = 777788889999
sso_role_name = KeyRescue

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1
EOF
cat >"$T/aws-credentials" <<EOF
[default]
aws_access_key_id = $CRED
aws_secret_access_key = credentials-secret

[both]
aws_access_key_id = $CRED
aws_secret_access_key = credentials-secret

[credentials-over-process]
aws_access_key_id = $CRED
aws_secret_access_key = credentials-secret
EOF
printf '[KMS]\n' >"$T/kmscanceld.conf"

# botocore's outcome for the environment given as NAME=VALUE arguments.
cat >"$T/botocore-outcome.py" <<'PY'
import botocore.credentials as bc
import botocore.session

SOURCES = {'env': 'environment', 'shared-credentials-file': 'shared-credentials-file',
           'config-file': 'config-file'}

def outcome(c, roles=()):
    fetcher = getattr(getattr(c, '_refresh_using', None), '__self__', None)
    if isinstance(fetcher, bc.AssumeRoleCredentialFetcher):
        return outcome(fetcher._source_credentials, roles + (fetcher._role_arn,))
    if roles:
        return 'role ' + ' '.join(roles) + ' / ' + c.access_key[-4:]
    if c.method == 'assume-role-with-web-identity':
        return 'web-identity ' + fetcher._role_arn
    if c.method == 'custom-process':
        return 'process'
    return f'static {SOURCES.get(c.method, c.method)} {c.access_key[-4:]}'

try:
    c = botocore.session.Session().get_credentials()
    print(outcome(c) if c else 'none')
except Exception as e:
    print(f'error {type(e).__name__}: {e}')
PY

# The daemon's outcome, from its "credentials:" line; the profile names of a
# chain are turned into their role ARNs and the last one's keys (the files,
# read as botocore reads them: the credentials file first).
cat >"$T/daemon-outcome.py" <<'PY'
import configparser, re, sys
line = sys.stdin.read()
m = re.search(r'^credentials: (.*)$', line, re.M)
if not m:
    print('error (no credentials line): ' + line.strip().replace('\n', ' '))
    sys.exit()
text = m.group(1)
config, creds = configparser.RawConfigParser(), configparser.RawConfigParser()
config.read(sys.argv[1])
creds.read(sys.argv[2])
def key(profile):
    if creds.has_option(profile, 'aws_access_key_id'):
        return creds.get(profile, 'aws_access_key_id')
    section = 'default' if profile == 'default' else 'profile ' + profile
    return config.get(section, 'aws_access_key_id')
if text.startswith('unavailable: '):
    print('error ' + text)
elif (c := re.search(r'would assume \S+ \(profile (.*?)\)', text)):
    hops = c.group(1).split(' via ')
    roles = [config.get('profile ' + p, 'role_arn') for p in hops[:-1]]
    print('role ' + ' '.join(roles) + ' / ' + key(hops[-1])[-4:])
elif (w := re.search(r'would exchange \S+ for role (\S+)', text)):
    print('web-identity ' + w.group(1))
elif text.startswith('credential_process: would run'):
    print('process')
elif (s := re.match(r'(\S+) \(access key \.\.\.(\w{4})\)', text)):
    print(f'static {s.group(1)} {s.group(2)}')
else:
    print('unknown ' + text)
PY

# compare NAME [NAME=VALUE...]: both outcomes in BOTO and DAEMON.
compare() {
	local name=$1
	shift
	local envs=(AWS_CONFIG_FILE="$T/aws-config" AWS_SHARED_CREDENTIALS_FILE="$T/aws-credentials"
		AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 "$@")
	# No terminal: botocore's prompts (an MFA code) fail, and their text is
	# kept with the error.
	BOTO=$(env -u AWS_ENDPOINT_URL "${envs[@]}" python3 -W ignore "$T/botocore-outcome.py" </dev/null 2>"$T/boto.err")
	case "$BOTO" in error*) [ -s "$T/boto.err" ] && BOTO+=" ($(tail -n 1 "$T/boto.err"))" ;; esac
	DAEMON=$(env -u AWS_ENDPOINT_URL "${envs[@]}" "$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config 2>&1 |
		python3 "$T/daemon-outcome.py" "$T/aws-config" "$T/aws-credentials")
	printf '%s\n  botocore:   %s\n  kmscanceld: %s\n' "$name" "$BOTO" "$DAEMON" >>"$T/outcomes"
}

# same NAME [ENV...]: the daemon makes botocore's choice.
same() {
	compare "$@"
	case "$BOTO" in
	error* | none | unknown*) fail "$1: botocore gave no credentials: $BOTO" ;;
	*) [ "$BOTO" = "$DAEMON" ] && pass "$1: $DAEMON" || fail "$1: botocore '$BOTO', kmscanceld '$DAEMON'" ;;
	esac
}

# both_refuse NAME "WORD..." [ENV...]: both refuse, each message containing every WORD.
both_refuse() {
	local name=$1 words=$2 w
	shift 2
	compare "$name" "$@"
	case "$BOTO $DAEMON" in
	"error"*" error"*) pass "$name: both refuse" ;;
	*) fail "$name: botocore '$BOTO', kmscanceld '$DAEMON'" ;;
	esac
	for w in $words; do
		case "$BOTO" in *"$w"*) ;; *) fail "$name: botocore's message lacks '$w': $BOTO" ;; esac
		case "$DAEMON" in *"$w"*) ;; *) fail "$name: kmscanceld's message lacks '$w': $DAEMON" ;; esac
	done
}

# --- which source wins ----------------------------------------------------------
same "default profile: the credentials file beats the config file"
same "AWS_PROFILE: the credentials file beats the config file" AWS_PROFILE=both
same "keys in the config file only" AWS_PROFILE=config-only
same "complete keys in the environment beat AWS_PROFILE" AWS_PROFILE=both AWS_ACCESS_KEY_ID=$ENVK \
	AWS_SECRET_ACCESS_KEY=env-secret
same "AWS_DEFAULT_PROFILE alone" AWS_DEFAULT_PROFILE=config-only
same "credential_process beats the config file's keys" AWS_PROFILE=process-over-config
same "the credentials file's keys beat credential_process" AWS_PROFILE=credentials-over-process
same "a chain of three profiles, ending in a source's own keys over its role" AWS_PROFILE=top
same "a source profile whose keys are in the credentials file" AWS_PROFILE=from-credentials
same "credential_source = Environment: the environment's keys come first anyway" AWS_PROFILE=env-source \
	AWS_ACCESS_KEY_ID=$ENVK AWS_SECRET_ACCESS_KEY=env-secret
same "web_identity_token_file in the profile" AWS_PROFILE=webid
same "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN beat the profile's keys" AWS_PROFILE=both \
	AWS_WEB_IDENTITY_TOKEN_FILE="$T/token" AWS_ROLE_ARN=$WEB

# --- refused by both --------------------------------------------------------------
both_refuse "a source_profile cycle" "loop-a loop-b" AWS_PROFILE=loop-a
both_refuse "a source_profile that does not exist" "missing no-source" AWS_PROFILE=no-source
both_refuse "both source_profile and credential_source" "two-sources source_profile credential_source" \
	AWS_PROFILE=two-sources
both_refuse "an unknown credential_source" "Ec2Metadata" AWS_PROFILE=bad-source
both_refuse "a profile that does not exist" "nothere" AWS_PROFILE=nothere
both_refuse "half the keys in the environment" "AWS_SECRET_ACCESS_KEY" AWS_PROFILE=both AWS_ACCESS_KEY_ID=$ENVK
# botocore asks for a code (at every refresh), which fails without a
# terminal; the daemon says at once that no one can type one.
both_refuse "mfa_serial" "MFA" AWS_PROFILE=with-mfa
# botocore fails on the missing login; the daemon says why it never logs in.
both_refuse "an SSO profile" "" AWS_PROFILE=sso
# botocore's login source comes before the config file's keys; it fails
# without its cache (or its crt extra), the daemon refuses it.
both_refuse "an aws login profile, with keys in the config file" "" AWS_PROFILE=login

# Settings errors: the daemon does not start; botocore fails making a client.
boto_client_error() { # SERVICE ENV...: botocore's error making a client, or "ok"
	local service=$1
	shift
	env -u AWS_ENDPOINT_URL AWS_CONFIG_FILE="$T/aws-config2" AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		AWS_DEFAULT_REGION=us-east-1 "$@" python3 -c '
import sys, botocore.session
try:
    botocore.session.Session().create_client(sys.argv[1], aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
    print("ok")
except Exception as e:
    print(f"error {type(e).__name__}: {e}")' "$service" 2>&1
}
daemon_start_error() { # ENV...: the daemon's --check-config failure, or "ok"
	if out=$(env -u AWS_ENDPOINT_URL AWS_CONFIG_FILE="$T/aws-config2" AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		AWS_REGION=us-east-1 "$@" "$KMSCANCELD" --config "$T/kmscanceld.conf" --check-config 2>&1); then
		echo ok
	else
		echo "error $out"
	fi
}
printf '[profile svc]\nservices = nowhere\n[profile sts-bad]\nsts_regional_endpoints = Legacy\n' >"$T/aws-config2"
for c in "kms services nowhere AWS_PROFILE=svc" "sts sts_regional_endpoints Legacy AWS_PROFILE=sts-bad" \
	"sts AWS_STS_REGIONAL_ENDPOINTS sideways AWS_STS_REGIONAL_ENDPOINTS=sideways"; do
	read -r service key value setting <<<"$c"
	b=$(boto_client_error "$service" "$setting")
	d=$(daemon_start_error "$setting")
	case "$b $d" in
	"error"*" error"*"$value"*) pass "$key = $value: botocore and kmscanceld both refuse it" ;;
	*) fail "$key = $value: botocore '$b', kmscanceld '$d'" ;;
	esac
done

# --- where the daemon differs on purpose (kmscanceld(8), AWS SETTINGS) ----------------
compare "AWS_PROFILE and AWS_DEFAULT_PROFILE both set" AWS_PROFILE=config-only AWS_DEFAULT_PROFILE=both
[ "$BOTO" = "static shared-credentials-file ${CRED: -4}" ] && [ "$DAEMON" = "static config-file ${CONF: -4}" ] &&
	pass "AWS_PROFILE wins in the daemon, AWS_DEFAULT_PROFILE in botocore, as documented" ||
	fail "both profile variables: botocore '$BOTO', kmscanceld '$DAEMON'"
b=$(boto_client_error kms AWS_USE_FIPS_ENDPOINT=maybe)
d=$(daemon_start_error AWS_USE_FIPS_ENDPOINT=maybe)
case "$b $d" in
"ok error"*AWS_USE_FIPS_ENDPOINT*) pass "AWS_USE_FIPS_ENDPOINT=maybe: botocore takes it as false, the daemon refuses, as documented" ;;
*) fail "AWS_USE_FIPS_ENDPOINT=maybe: botocore '$b', kmscanceld '$d'" ;;
esac

# The comparison can fail: botocore's outcome for another profile is not the daemon's.
compare "self-check" AWS_PROFILE=both
b_both=$BOTO
compare "self-check" AWS_PROFILE=config-only
[ "$b_both" != "$DAEMON" ] && pass "self-check: different profiles give different outcomes" ||
	fail "self-check: '$b_both' for both profiles"
log "--- outcomes ---"
cat "$T/outcomes" >&2
exit 0
