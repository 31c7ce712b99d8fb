#!/bin/zsh -f
# zsh-complete.zsh FPATH-DIR LINE...: what zsh's completion system offers at
# the end of each LINE, the way a user's Tab would, with FPATH-DIR first in
# $fpath.  Prints, per LINE, "== LINE" then the offered words, one a line.
#
# Completion runs only inside the line editor, so an interactive zsh is
# started on a pseudo-terminal (zsh/zpty) and sent each LINE and a Tab.
# Its Tab is bound to a widget that runs the completion system with
# compadd wrapped: every word the functions offer is printed between two
# markers instead of being added, so that nothing is inserted or listed.
zmodload zsh/zpty || exit 77
emulate -L zsh
setopt err_return no_unset

local fdir=$1 setup=${TMPDIR:-/tmp}/zsh-complete.$$
shift
trap 'rm -f $setup; zpty -d kms 2>/dev/null' EXIT

cat >$setup <<EOF
PS1='' PS2='' RPS1=''
fpath=(${(q)fdir} \$fpath)
autoload -Uz compinit && compinit -u -D
zstyle ':completion:*' group-name ''
# -O, -A, -D: a function asking which words would match (_files does):
# answered as usual.  Otherwise the words that match are printed.
compadd() {
	if (( \${@[(I)-[OAD]]} )); then
		builtin compadd "\$@"
		return
	fi
	local -a hits
	builtin compadd -O hits "\$@"
	(( \$#hits )) || return 1
	print -rl -- "\${hits[@]/#/offered:}"
}
__kms_capture() {
	print -r -- '<<begin>>'
	_main_complete
	print -r -- '<<end>>'
}
zle -C kms-capture complete-word __kms_capture
bindkey '^I' kms-capture
print -r -- '<<ready>>'
EOF

# read_until MARK: the pty's output up to the line holding MARK, in $reply.
read_until() {
	local text
	reply=()
	while zpty -r kms text; do
		text=${${text//$'\r'/}%$'\n'}
		[[ $text == *$1* ]] && return 0
		reply+=("$text")
	done
	return 1
}

zpty kms zsh -f -i
zpty -w kms "source ${(q)setup}"
read_until '<<ready>>' || { print -u2 "zsh did not start"; exit 99; }
local line
for line in "$@"; do
	zpty -n -w kms "$line"$'\t'
	read_until '<<begin>>' && read_until '<<end>>' || { print -u2 "no completion for '$line'"; exit 99; }
	print -r -- "== $line"
	local -a offered=(${${(M)reply:#offered:?*}#offered:})
	(( $#offered == 0 )) || print -rl -- ${(u)offered}
	# Kill the line for the next one.
	zpty -n -w kms $'\C-u'
done
