# Sourced by `make check` (AM_TESTS_ENVIRONMENT) before every test.
#
# Tests may reach loopback only.  Whatever the caller's environment holds,
# every AWS endpoint points at a closed loopback port unless the test sets
# its own, IMDS is off and redirected to loopback as well, no real ~/.aws
# is read, and netguard refuses any connection off loopback.

for v in $(env | sed -n 's/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy NO_PROXY no_proxy
unset CREDENTIALS_DIRECTORY KMSCANCEL_SOCKET JOURNAL_STREAM NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES

# Port 9 (discard) on loopback: nothing listens there, so a forgotten
# override fails fast with "connection refused".
export AWS_EC2_METADATA_DISABLED=true
export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9
export AWS_ENDPOINT_URL=https://127.0.0.1:9
export AWS_ENDPOINT_URL_STS=https://127.0.0.1:9
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export HOME=/nonexistent

netguard_lib="$top_builddir/tests/.libs/libnetguard.so"
if [ -f "$netguard_lib" ]; then
	export LD_PRELOAD="$netguard_lib${LD_PRELOAD:+:$LD_PRELOAD}"
	# ASan wants to come first; netguard only wraps three calls.
	export ASAN_OPTIONS="verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
