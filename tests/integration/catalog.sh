#!/bin/bash
# The journal catalog (catalog/kmscanceld.catalog): one entry per MESSAGE_ID
# the daemon writes, and none for an ID it does not; each entry in
# systemd's catalog format with a Subject, a Documentation and a text;
# "make install" puts it in the catalog directory, and journalctl compiles
# it and lists every entry (offline, in a root of its own).
. "$top_srcdir/tests/integration/lib.sh"

: "${catalogdir:?}"
CATALOG="$top_srcdir/catalog/kmscanceld.catalog"

# The IDs in the code: macros named *MESSAGE* defined as 32 hex digits, and
# literal "MESSAGE_ID=…" strings.
code_ids() {
	cat "$top_srcdir"/daemon/*.[ch] "$top_srcdir"/common/*.[ch] |
		sed -n -e 's/^#define [A-Z0-9_]*MESSAGE[A-Z0-9_]* *"\([0-9a-f]\{32\}\)".*/\1/p' \
			-e 's/.*"MESSAGE_ID=\([0-9a-f]\{32\}\)".*/\1/p' | sort -u
}
catalog_ids() { sed -n 's/^-- \([0-9a-f]\{32\}\)$/\1/p' "$1" | sort; }

code_ids >"$T/code"
catalog_ids "$CATALOG" >"$T/catalog"
[ -s "$T/code" ] || die "no MESSAGE_ID found in daemon/ or common/"
for id in $(comm -23 "$T/code" "$T/catalog"); do
	fail "MESSAGE_ID $id is in the code but has no catalog entry"
done
for id in $(comm -13 "$T/code" "$T/catalog"); do
	fail "catalog entry $id is for a MESSAGE_ID the code does not write"
done
[ -z "$(uniq -d "$T/catalog")" ] || fail "catalog entries twice: $(uniq -d "$T/catalog")"
[ "$failures" -eq 0 ] && pass "every MESSAGE_ID in the code has a catalog entry ($(wc -l <"$T/code")), and no other"

# Each entry: header lines up to a blank line, then a text of its own.
awk '
	/^-- / { if (id) check(); id = $2; head = 1; subj = doc = body = 0; next }
	!id || /^#/ { next }
	head && /^$/ { head = 0; next }
	head && /^Subject: ./ { subj = 1 }
	head && /^Documentation: man:/ { doc = 1 }
	!head && /./ { body++ }
	function check() {
		if (!subj) print id ": no Subject:"
		if (!doc) print id ": no Documentation: man:…"
		if (body < 3) print id ": no text (what happened, what to do)"
	}
	END { if (id) check() }' "$CATALOG" >"$T/format"
[ -s "$T/format" ] && fail "catalog entries: $(cat "$T/format")" ||
	pass "each entry has a Subject, a Documentation and a text"

D="$T/root"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" install-dist_catalogDATA DESTDIR="$D" \
	>"$T/install.log" 2>&1 || die "make install-dist_catalogDATA failed: $(cat "$T/install.log")"
installed="$D$catalogdir/kmscanceld.catalog"
cmp -s "$installed" "$CATALOG" && pass "installed as $catalogdir/kmscanceld.catalog" ||
	fail "not installed: $catalogdir/kmscanceld.catalog"

command -v journalctl >/dev/null || { log "SKIP: no journalctl to compile the catalog"; exit 77; }
# journalctl reads $ROOT/usr/lib/systemd/catalog whatever the prefix was.
R="$T/journal-root"
mkdir -p "$R/usr/lib/systemd/catalog"
cp "$installed" "$R/usr/lib/systemd/catalog/"
journalctl --root="$R" --update-catalog >"$T/update.log" 2>&1 && [ -s "$R/var/lib/systemd/catalog/database" ] &&
	pass "journalctl --update-catalog compiles it" || fail "journalctl --update-catalog: $(cat "$T/update.log")"
journalctl --root="$R" --list-catalog >"$T/list" 2>&1 || fail "journalctl --list-catalog: $(cat "$T/list")"
while read -r id; do
	subject=$(sed -n "/^-- $id\$/,/^\$/s/^Subject: //p" "$CATALOG")
	grep -qxF "$id kmscancel: $subject" "$T/list" && pass "journalctl lists $id: $subject" ||
		fail "journalctl does not list $id ($subject): $(cat "$T/list")"
done <"$T/code"
# What journalctl -x shows: the entry with the record's fields filled in
# is journald's business; here, that the text comes back whole.
id=$(head -1 "$T/code")
journalctl --root="$R" --dump-catalog "$id" >"$T/dump" 2>&1
awk -v id="$id" '/^-- / { on = ($2 == id) } on && /./' "$CATALOG" >"$T/want"
grep -v '^$' "$T/dump" | grep -vxF -f "$T/want" | grep . >"$T/extra" &&
	fail "journalctl --dump-catalog $id adds: $(cat "$T/extra")" || true
grep -v '^$' "$T/want" | grep -vxF -f <(grep -v '^$' "$T/dump") | grep . >"$T/missing" &&
	fail "journalctl --dump-catalog $id lacks: $(cat "$T/missing")" || pass "journalctl --dump-catalog $id gives the entry whole"
exit 0
