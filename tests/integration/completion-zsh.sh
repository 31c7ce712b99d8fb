#!/bin/bash
# The zsh completion (completion/_kmscancel), driven by zsh itself: an
# interactive zsh on a pseudo-terminal completes each line of
# completion-lib.sh's expectations (tests/integration/zsh-complete.zsh).
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/completion-lib.sh"

command -v zsh >/dev/null || { log "SKIP: zsh is not installed"; exit 77; }
zsh -f -c 'zmodload zsh/zpty' 2>/dev/null || { log "SKIP: no zsh/zpty module"; exit 77; }

complete_batch() {
	timeout 120 zsh -f "$top_srcdir/tests/integration/zsh-complete.zsh" "$top_srcdir/completion" "$@"
}
check_completions zsh
[ "$failures" -eq 0 ]
