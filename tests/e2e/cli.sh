#!/bin/bash
# The CLI explains itself (no root): every command's --help and -h print
# its usage on stdout and exit 0; an unknown option, a missing argument, an
# option a command does not take and an unknown command each print ONE line
# "mkimg: ...; see 'mkimg ... --help'" on stderr and exit 2.
. "$(dirname "$0")/lib.sh"

cmds=$("$MKIMG" --help | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }')
[ -n "$cmds" ] || fail "mkimg --help lists no commands"
"$MKIMG" --help | grep -q -- '--version' || fail "mkimg --help does not list --version"
"$MKIMG" --version | grep -q '^mkimg ' || fail "mkimg --version"

# one_line RC PATTERN CMD...: CMD exits RC, stdout empty, stderr one line matching PATTERN
one_line() {
	local want=$1 pat=$2 rc=0
	shift 2
	"$MKIMG" "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$want" ] || fail "mkimg $*: exit $rc, want $want"
	[ ! -s "$T/out" ] || fail "mkimg $*: wrote to stdout: $(cat "$T/out")"
	[ "$(wc -l <"$T/err")" = 1 ] || fail "mkimg $*: not one line on stderr: $(cat "$T/err")"
	grep -qE -- "$pat" "$T/err" || fail "mkimg $*: '$(cat "$T/err")' does not match '$pat'"
}

n=0
for c in $cmds; do
	for h in --help -h; do
		rc=0
		"$MKIMG" "$c" "$h" >"$T/out" 2>"$T/err" || rc=$?
		[ "$rc" = 0 ] || fail "mkimg $c $h: exit $rc"
		[ ! -s "$T/err" ] || fail "mkimg $c $h: wrote to stderr"
		grep -qi 'usage' "$T/out" || fail "mkimg $c $h: no usage on stdout"
	done
	one_line 2 "^mkimg: $c: unrecognized option '--frob'; see 'mkimg $c --help'\$" "$c" --frob
	one_line 2 "^mkimg: $c: unrecognized option '--frob'; see 'mkimg $c --help'\$" "$c" --frob=1
	one_line 2 "^mkimg: $c: invalid option '-Z'; see 'mkimg $c --help'\$" "$c" -Z
	one_line 2 "^mkimg: $c: option '--help' takes no argument; see 'mkimg $c --help'\$" "$c" --help=1
	n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n commands"

# missing arguments, long and short
one_line 2 "^mkimg: convert: option '-o' requires an argument; see 'mkimg convert --help'\$" convert -o
one_line 2 "^mkimg: convert: option '--name' requires an argument; see 'mkimg convert --help'\$" convert --name
one_line 2 "^mkimg: ls: option '--store' requires an argument; see 'mkimg ls --help'\$" ls --store
one_line 2 "^mkimg: build: option '-b' requires an argument; see 'mkimg build --help'\$" build -b
# an option another command takes
one_line 2 "^mkimg: gc: option '--full' does not apply to this command; see 'mkimg gc --help'\$" gc --full
# the wrong number of operands
one_line 2 "^mkimg: rm: too few arguments; see 'mkimg rm --help'\$" rm
one_line 2 "^mkimg: stats: too many arguments; see 'mkimg stats --help'\$" stats a b c
# unknown command
one_line 2 "^mkimg: unknown command 'frob'; see 'mkimg --help'\$" frob
echo "PASS: cli ($n commands)"
