#!/bin/bash
# The fish completions (completion/kmscancel.fish, kmscanceld.fish), driven
# by fish itself: "complete -C LINE" for each line of completion-lib.sh's
# expectations, the files found by command name as fish finds them in
# vendor_completions.d, with the built programs first in PATH (fish loads a
# command's completions only when the command exists).
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/completion-lib.sh"

command -v fish >/dev/null || { log "SKIP: fish is not installed"; exit 77; }

complete_batch() {
	local line script='set -p fish_complete_path $KMS_COMPLETIONS'
	for line; do
		script+="; echo '== $line'; complete -C '$line' | string split -f1 \t"
	done
	PATH="$top_builddir:$PATH" KMS_COMPLETIONS="$top_srcdir/completion" HOME="$T" \
		timeout 120 fish --no-config -c "$script; true"
}
check_completions fish
[ "$failures" -eq 0 ]
