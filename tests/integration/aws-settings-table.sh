#!/bin/bash
# The AWS SETTINGS table of kmscanceld(8) stays true and complete:
#  1. every entry has one verdict (honoured, refused, not applicable);
#  2. every environment variable and shared-config key botocore reads is in
#     it: its session variables (configprovider), the S3 and proxy keys, the
#     credential sources' names (credentials.py, tokens.py), every
#     os.environ read of its own code, and the AWS CLI's own variables when
#     the CLI is installed;
#  3. every variable and profile key the daemon's code reads is in it;
#  4. a name the daemon reads is never filed as "not applicable" (which
#     says it is not read).
# No daemon and no network: the man page, the code and botocore's source.
# Skips the botocore part visibly when botocore is missing.
. "$top_srcdir/tests/integration/lib.sh"

MAN="$top_srcdir/man/kmscanceld.8"
DAEMON_SRC="$top_srcdir/daemon"

# The section's entries as "VERDICT<TAB>NAME" lines, one per name of a tag.
python3 - "$MAN" >"$T/table" <<'PY' || die "cannot read the table out of $MAN"
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r'^\.SH AWS SETTINGS\n(.*?)^\.SH ', text, re.S | re.M)
if not m:
    sys.exit("no AWS SETTINGS section")
lines = m.group(1).split('\n')
verdicts = {'honoured', 'refused', 'not applicable'}
n = 0
for i, line in enumerate(lines):
    if line != '.TP':
        continue
    tag, body = lines[i + 1], lines[i + 2]
    tag = re.sub(r'\\f[BIRP]', '', re.sub(r'^\.(BR|B|I|IR|RB) ', '', tag))
    names = [w for w in re.findall(r'[A-Za-z_][A-Za-z0-9_]*', tag.replace('" "', ' '))]
    v = re.match(r'^\.I (.*?)[:,.]?$', body)
    verdict = v.group(1).rstrip(':,.') if v else ''
    if verdict not in verdicts:
        print(f'BAD\t{tag}\t{body}')
        continue
    for name in names:
        print(f'{verdict}\t{name}')
        n += 1
if n == 0:
    sys.exit("the table has no entries")
PY

bad=$(grep '^BAD' "$T/table")
[ -z "$bad" ] && pass "every entry of the table has a verdict ($(wc -l <"$T/table") names)" ||
	fail "entries without a verdict (honoured, refused, not applicable): $bad"
cut -f2 "$T/table" | sort | uniq -d >"$T/twice"
[ ! -s "$T/twice" ] && pass "no name is in two entries" || fail "in two entries: $(tr '\n' ' ' <"$T/twice")"

# missing_from TABLE FILE: the names of FILE ("NAME<TAB>where") that TABLE
# does not list, whatever the verdict, one "NAME (where)" per line.
missing_from() {
	local name where
	while IFS=$'\t' read -r name where; do
		cut -f2 "$1" | grep -qxF -- "$name" || printf '%s (%s)\n' "$name" "$where"
	done <"$2"
}

# check_all_listed WHAT FILE: every name in FILE is in the table.
check_all_listed() {
	local missing
	missing=$(missing_from "$T/table" "$2")
	if [ -z "$missing" ]; then
		pass "all $(wc -l <"$2") $1 are in the table"
	else
		fail "$1 missing from the table: $(echo $missing)"
	fi
}

# --- the daemon's code --------------------------------------------------------
# Variables: every "AWS_…" literal in daemon/, and the proxy variables.
# Profile keys: the snake_case literals of the files that read the shared
# files and the environment (none of these files has other such literals),
# and the two keys without an underscore.
{
	grep -ho '"AWS_[A-Z0-9_]*"' "$DAEMON_SRC"/*.c | tr -d '"' | sed 's/$/\tdaemon\/*.c/'
	grep -ho '"[hH][tT][tT][pP][sS]*_[pP][rR][oO][xX][yY]"\|"[nN][oO]_[pP][rR][oO][xX][yY]"' "$DAEMON_SRC"/*.c |
		tr -d '"' | sed 's/$/\tdaemon\/*.c/'
	grep -ho '"[a-z][a-z0-9]*_[a-z0-9_]*"' "$DAEMON_SRC"/aws-settings.c "$DAEMON_SRC"/creds*.c \
		"$DAEMON_SRC"/accounts*.c "$DAEMON_SRC"/sts.c "$DAEMON_SRC"/proxy.c | tr -d '"' | sed 's/$/\tprofile key/'
	grep -q '"region"' "$DAEMON_SRC"/aws-settings.c && printf 'region\tprofile key\n'
	grep -q '"services"' "$DAEMON_SRC"/aws-settings.c && printf 'services\tprofile key\n'
} | sort -u >"$T/daemon-names"
[ "$(wc -l <"$T/daemon-names")" -gt 50 ] || die "found only $(wc -l <"$T/daemon-names") names in the daemon's code"
check_all_listed "variables and keys the daemon reads" "$T/daemon-names"

# What the daemon reads is not "not applicable" (the table says those are
# not read), except HTTP_PROXY, which it only passes on to credential_process.
wrong=()
while IFS=$'\t' read -r name where; do
	case "$name" in HTTP_PROXY | http_proxy) continue ;; esac
	grep -qxF -- "not applicable	$name" "$T/table" && wrong+=("$name")
done <"$T/daemon-names"
[ ${#wrong[@]} -eq 0 ] && pass "nothing the daemon reads is filed as not applicable" ||
	fail "read by the daemon but filed as not applicable: ${wrong[*]}"

# The check can fail: without its AWS_CA_BUNDLE row the table misses it.
grep -v '	AWS_CA_BUNDLE$' "$T/table" >"$T/table.short"
expect_contains "$(missing_from "$T/table.short" "$T/daemon-names")" "AWS_CA_BUNDLE" \
	"self-check: a table without AWS_CA_BUNDLE is caught"

# --- botocore -------------------------------------------------------------------
if ! python3 -c 'import botocore' 2>/dev/null; then
	log "SKIP (part): botocore is not installed; the table is not compared with it"
	exit 0
fi

python3 - >"$T/botocore-names" <<'PY' || die "cannot list botocore's settings"
import glob, inspect, os, re
import botocore
import botocore.configprovider as cp
import botocore.credentials as cr
import botocore.tokens as tk

names = {}
def add(name, where):
    if re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', name):
        names.setdefault(name, where)

def add_spec(spec, where):
    cfg, env = spec[0], spec[1]
    for c in (cfg if isinstance(cfg, list) else [cfg]):
        for part in (c if isinstance(c, tuple) else (c,)):
            if part:
                add(part, where)
    for e in (env if isinstance(env, list) else [env]):
        if e:
            add(e, where)

# botocore 1.43 spells it BOTOCORE_DEFAUT_…; take either spelling.
session_vars = getattr(cp, 'BOTOCORE_DEFAULT_SESSION_VARIABLES', None) or cp.BOTOCORE_DEFAUT_SESSION_VARIABLES
for table, label in ((session_vars, 'session variable'), (cp.DEFAULT_S3_CONFIG_VARS, 's3 config'),
                     (cp.DEFAULT_PROXIES_CONFIG_VARS, 'proxies config')):
    for k, spec in table.items():
        add_spec(spec, f'{label} {k}')

# The credential sources' variable and key names (class attributes).
attrs = {
    'EnvProvider': ['ACCESS_KEY', 'SECRET_KEY', 'TOKENS', 'EXPIRY_TIME', 'ACCOUNT_ID'],
    'SharedCredentialProvider': ['ACCESS_KEY', 'SECRET_KEY', 'TOKENS', 'ACCOUNT_ID'],
    'ConfigProvider': ['ACCESS_KEY', 'SECRET_KEY', 'TOKENS', 'ACCOUNT_ID'],
    'OriginalEC2Provider': ['CRED_FILE_ENV'],
    'BotoProvider': ['BOTO_CONFIG_ENV'],
    'AssumeRoleProvider': ['ROLE_CONFIG_VAR', 'WEB_IDENTITY_TOKE_FILE_VAR'],
    'ContainerProvider': ['ENV_VAR', 'ENV_VAR_FULL', 'ENV_VAR_AUTH_TOKEN', 'ENV_VAR_AUTH_TOKEN_FILE'],
    'SSOProvider': ['_ALL_REQUIRED_CONFIG_VARS'],
}
for cls, wanted in attrs.items():
    for a in wanted:
        v = getattr(getattr(cr, cls), a)
        for s in (v if isinstance(v, (list, tuple)) else [v]):
            add(s, f'{cls}.{a}')
for k, v in cr.AssumeRoleWithWebIdentityProvider._CONFIG_TO_ENV_VAR.items():
    add(k, 'AssumeRoleWithWebIdentityProvider')
    add(v, 'AssumeRoleWithWebIdentityProvider')

# Profile keys the credential and token sources read by name.
key_re = re.compile(r'\b(?:profile|profile_config|role_config|sso_config|config|self\._profile_config)'
                    r'(?:\.get\(\s*|\[\s*)[\'"]([a-z][a-z0-9_]*)[\'"]')
in_re = re.compile(r'[\'"]([a-z][a-z0-9_]*)[\'"] (?:not )?in (?:profile|profile_config|config)\b')
for mod in (cr, tk):
    src = inspect.getsource(mod)
    for rx in (key_re, in_re):
        for m in rx.finditer(src):
            add(m.group(1), f'{os.path.basename(mod.__file__)} key')

# Every variable botocore's own code reads (not its vendored libraries).
env_re = re.compile(r'(?:os\.environ\.get\(\s*|os\.environ\[\s*|os\.getenv\(\s*)[\'"]([A-Z_][A-Z0-9_]*)[\'"]'
                    r'|[\'"]([A-Z_][A-Z0-9_]*)[\'"] in os\.environ')
root = os.path.dirname(botocore.__file__)
for path in glob.glob(os.path.join(root, '**', '*.py'), recursive=True):
    rel = os.path.relpath(path, root)
    if rel.startswith(('vendored', 'crt')):
        continue
    for line in open(path, encoding='utf-8'):
        if line.lstrip().startswith(('>>>', '#')):
            continue
        for m in env_re.finditer(line):
            add(m.group(1) or m.group(2), rel)

# The endpoint settings (configprovider builds AWS_ENDPOINT_URL_<SERVICE>).
for n in ('AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL_STS', 'services', 'endpoint_url'):
    add(n, 'configprovider endpoint')

# The AWS CLI's own, when installed.
try:
    import awscli
    for k, spec in awscli.EnvironmentVariables.items():
        add_spec(spec, f'awscli {k}')
except Exception:
    pass
for name, where in sorted(names.items()):
    print(f'{name}\t{where}')
PY
n=$(wc -l <"$T/botocore-names")
[ "$n" -gt 80 ] || fail "found only $n names in botocore $(python3 -c 'import botocore; print(botocore.__version__)')"
log "botocore $(python3 -c 'import botocore; print(botocore.__version__)'): $n names"
check_all_listed "botocore settings" "$T/botocore-names"
# The extraction finds what it should (a check that can fail).
for name in AWS_RETRY_MODE use_dualstack_endpoint mfa_serial sso_role_name AWS_CONTAINER_CREDENTIALS_FULL_URI \
	login_session AWS_NEW_RETRIES_2026 aws_security_token; do
	grep -q "^$name	" "$T/botocore-names" || fail "botocore's list lacks $name: the extraction is broken"
done
exit 0
