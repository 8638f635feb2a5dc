# SPDX-License-Identifier: MIT
# zsh -f zsh-complete.zsh COMPLETIONS_DIR LINE: prints LINE as TAB completes it
# in an interactive zsh (in a pty) with _isofs on its fpath.  The completed line
# is never run: `echo RESULT:` is put before it.
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w -n z "$2"$'\t'
sleep 1
zpty -w -n z $'\C-aecho RESULT:\C-e:END\n'
out=
for i in {1..50}; do
	while zpty -r -t z line; do out+=$line; done
	[[ $out == *RESULT:*:END$'\r'* ]] && break
	sleep 0.1
done
zpty -d z
print -r -- "$out" | tr -d '\r' | grep -a '^RESULT:' | sed 's/^RESULT://; s/:END$//'
