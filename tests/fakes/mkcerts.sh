#!/bin/sh
# SPDX-License-Identifier: MIT
#
# mkcerts.sh DIR — the test PKI for the fakes, made with the openssl CLI
# ($OPENSSL, default openssl) at test time so no key is ever checked in.
#
#   DIR/ca.pem, ca.key                 test CA (trust this one: AWS_CA_BUNDLE)
#   DIR/server.pem, server.key         signed by the CA; SAN IP:127.0.0.1,
#                                      IP:::1, DNS:localhost, and the KMS
#                                      names of us-east-1, eu-west-1,
#                                      cn-north-1, us-gov-west-1 (routing
#                                      tests connect those to the fake)
#   DIR/other-ca.pem                   an unrelated CA ("wrong CA" tests)
#   DIR/wronghost.pem, wronghost.key   signed by the CA, but only for
#                                      DNS:not-this-host.example (hostname
#                                      mismatch tests)
#
# EC P-256 keys (fast), quiet unless openssl fails.  Idempotent: when every
# file is already there it does nothing.  Files appear by rename(), so a
# concurrent reader never sees half a PEM file.
set -eu

OPENSSL=${OPENSSL:-openssl}
DAYS=3650

if [ $# -ne 1 ]; then
	echo "usage: mkcerts.sh DIR" >&2
	exit 2
fi
dir=$1
outputs="ca.pem ca.key server.pem server.key other-ca.pem wronghost.pem wronghost.key"

complete=yes
for f in $outputs; do
	[ -s "$dir/$f" ] || complete=no
done
[ $complete = yes ] && exit 0

mkdir -p "$dir"
work=$(mktemp -d "$dir/.mkcerts.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/openssl.log

# Our own config, so the system's openssl.cnf cannot change the result.
cat >"$work/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost, DNS:*.us-east-1.amazonaws.com, DNS:*.eu-west-1.amazonaws.com, DNS:*.cn-north-1.amazonaws.com.cn, DNS:*.us-gov-west-1.amazonaws.com
[wronghost_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:not-this-host.example
EOF

ossl() {
	if ! "$OPENSSL" "$@" >>"$log" 2>&1; then
		echo "mkcerts.sh: $OPENSSL $1 failed:" >&2
		cat "$log" >&2
		exit 1
	fi
}

# make_ca NAME CN: a self-signed CA certificate and key.
make_ca() {
	ossl req -x509 -new -config "$work/openssl.cnf" -extensions ca_ext \
		-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$work/$1.key" -out "$work/$1.pem" -days $DAYS -subj "/CN=$2"
}

# make_leaf NAME CN EXTENSIONS: a key and a certificate signed by the CA.
make_leaf() {
	ossl req -new -config "$work/openssl.cnf" \
		-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$work/$1.key" -out "$work/$1.csr" -subj "/CN=$2"
	ossl x509 -req -in "$work/$1.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
		-set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		-days $DAYS -extfile "$work/openssl.cnf" -extensions "$3" -out "$work/$1.pem"
}

make_ca ca "kmscancel test CA"
make_ca other-ca "kmscancel unrelated CA"
make_leaf server localhost server_ext
make_leaf wronghost not-this-host.example wronghost_ext
chmod 600 "$work"/*.key

# Keys first, CA last: whoever sees ca.pem finds everything else in place.
for f in server.key wronghost.key ca.key server.pem wronghost.pem other-ca.pem ca.pem; do
	mv -f "$work/$f" "$dir/$f"
done
