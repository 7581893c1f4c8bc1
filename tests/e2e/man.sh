#!/usr/bin/env bash
# The manual pages and the bash completion agree with the --help texts (no
# root): every command 'mkimg --help' lists has a page and is completed;
# every long and short option 'mkimg CMD --help' prints is in a tag of the
# OPTIONS of that command's page and in the completion's options, and
# neither offers an option the help does not know (but -h/--help); every
# page renders without warnings (groff -ww, and mandoc -Tlint when
# installed); the completion completes store image names and pin ids.
. "$(dirname "$0")/lib.sh"

man=$top_srcdir/man
comp=$top_srcdir/completion/mkimg.bash
[ -x "$MKIMG" ] || fail "no $MKIMG"
command -v groff >/dev/null || { echo "SKIP: no groff (groff-base)"; exit 77; }

# opts: the option tokens of stdin, one per line, sorted (--long, -s)
opts() {
	grep -oE '(^|[][ ,(|/])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[][ ,(|/]//' |
		grep -vE '^-[A-Za-z][A-Za-z0-9]' | sort -u
}
# deroff: the page's source with escapes of dashes and fonts removed
deroff() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\c//g' -e 's/\\(aq/'"'"'/g' "$1"
}
# tags PAGE: the tag lines (the line after each .TP) of PAGE, deroffed
tags() {
	deroff "$1" | awk 'tp { print; tp = 0 } /^\.TP/ { tp = 1 }' | sed 's/^\.[A-Z]* //'
}
# lint PAGE: prints the warnings of every renderer we have
lint() {
	LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$1" 2>&1
	if command -v mandoc >/dev/null; then
		mandoc -Tlint -W warning "$1" 2>&1 || true
	fi
}
# complete WORD...: what the completion offers for the last word
complete_words() {
	(
		set +eu
		. "$comp"
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_mkimg
		[ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}"
	)
}

# the linter catches a broken page (so a clean result means something)
printf '.TH X 1\n.SH NAME\nx \\- y\n.XX unknown\n\\fBno end\n' >"$T/bad.1"
[ -n "$(lint "$T/bad.1")" ] || fail "groff -ww finds nothing wrong in a broken page"
n=0
for p in "$man"/*.[158]; do
	w=$(lint "$p")
	[ -z "$w" ] || fail "${p##*/} renders with warnings: $w"
	n=$((n + 1))
done
[ -f "$man/mkimg-store.5" ] || fail "no mkimg-store(5)"
[ -f "$man/mkimg-snapshotter.8" ] || fail "no mkimg-snapshotter(8)"

# the commands
"$MKIMG" --help >"$T/help" || fail "mkimg --help exits non-zero"
cmds=$(sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p' "$T/help")
[ "$(echo "$cmds" | wc -w)" -ge 14 ] || fail "mkimg --help lists $(echo $cmds)"
tags "$man/mkimg.1" >"$T/tags"
complete_words "$MKIMG" "" | sort >"$T/comp"
for c in $cmds; do
	[ -f "$man/mkimg-$c.1" ] || fail "no page man/mkimg-$c.1 for the command $c"
	grep -qx "$c" "$T/tags" || fail "mkimg(1) does not list the command $c"
	grep -qx "$c" "$T/comp" || fail "the completion does not complete the command $c"
	grep -q "^\.BR mkimg-$c (1)" <(deroff "$man/mkimg.1") || fail "mkimg(1) does not refer to mkimg-$c(1)"
done
for p in "$man"/mkimg-*.1; do
	c=${p##*/mkimg-}
	c=${c%.1}
	grep -qx "$c" <<<"$cmds" || fail "man/mkimg-$c.1 is a page of no command of mkimg --help"
done
comm -13 <(echo "$cmds" | sort) "$T/comp" >"$T/extra"
[ ! -s "$T/extra" ] || fail "the completion offers commands mkimg --help does not list: $(cat "$T/extra")"
# mkimg's own options, and those its help mentions
opts <"$T/help" >"$T/hopts"
deroff "$man/mkimg.1" | opts >"$T/mopts"
comm -23 "$T/hopts" "$T/mopts" >"$T/missing"
[ ! -s "$T/missing" ] || fail "mkimg(1) does not mention $(tr '\n' ' ' <"$T/missing")"
for o in --help --version; do
	grep -qx -- "$o" <(tags "$man/mkimg.1" | opts) || fail "mkimg(1) does not document $o"
	grep -qx -- "$o" <(complete_words "$MKIMG" -) || fail "the completion does not complete mkimg $o"
done

# each command's options
only_in() { comm "$1" "$2" "$3" | tr '\n' ' '; } # -23|-13 SORTED SORTED: one side's lines
nopt=0
for c in $cmds; do
	"$MKIMG" "$c" --help >"$T/help" 2>&1 || fail "mkimg $c --help exits non-zero"
	opts <"$T/help" >"$T/hopts"
	[ -s "$T/hopts" ] || fail "mkimg $c --help prints no option"
	tags "$man/mkimg-$c.1" | opts >"$T/mopts"
	complete_words "$MKIMG" "$c" - | sort -u >"$T/copts"
	d=$(only_in -23 "$T/hopts" "$T/mopts")
	[ -z "$d" ] || fail "mkimg-$c(1) does not document $d(printed by mkimg $c --help)"
	d=$(only_in -23 "$T/hopts" "$T/copts")
	[ -z "$d" ] || fail "the completion of mkimg $c lacks $d(printed by mkimg $c --help)"
	printf '%s\n' --help -h >>"$T/hopts"
	sort -u -o "$T/hopts" "$T/hopts"
	d=$(only_in -13 "$T/hopts" "$T/mopts")
	[ -z "$d" ] || fail "mkimg-$c(1) documents $d""which mkimg $c --help does not print"
	d=$(only_in -13 "$T/hopts" "$T/copts")
	[ -z "$d" ] || fail "the completion of mkimg $c offers $d""which mkimg $c --help does not print"
	nopt=$((nopt + $(wc -l <"$T/mopts")))
done

# the snapshotter's flags, when it is built
sn=$top_builddir/snapshotter/mkimg-snapshotter
if [ -x "$sn" ]; then
	"$sn" --help >"$T/help" 2>&1 || fail "mkimg-snapshotter --help exits non-zero"
	opts <"$T/help" >"$T/hopts"
	tags "$man/mkimg-snapshotter.8" | opts >"$T/mopts"
	comm -23 "$T/hopts" "$T/mopts" >"$T/missing"
	[ ! -s "$T/missing" ] ||
		fail "mkimg-snapshotter(8) does not document $(tr '\n' ' ' <"$T/missing")"
fi

# completion of store names (--store, --store=, MKIMG_STORE) and pin ids
mkdir -p "$T/src/d"
echo hello >"$T/src/d/f"
tar -C "$T/src" -cf "$T/layer.tar" .
S=$T/store
"$MKIMG" convert -q --store "$S" --name base "$T/layer.tar"
"$MKIMG" convert -q --store "$S" --name 'app:1' "$T/layer.tar"
"$MKIMG" convert -q --store "$S" --name 'we"ird\x' "$T/layer.tar"
got=$(complete_words "$MKIMG" inspect --store "$S" "" | sort | tr '\n' ' ')
[ "$got" = 'app:1 base we\"ird\\x ' ] || fail "inspect --store S <TAB> completed: $got"
got=$(complete_words "$MKIMG" rm --store="$S" a | tr '\n' ' ')
[ "$got" = 'app:1 ' ] || fail "rm --store=S a<TAB> completed: $got"
got=$(MKIMG_STORE=$S complete_words "$MKIMG" mount b | tr '\n' ' ')
[[ $got == "base "* ]] || fail "MKIMG_STORE=S mount b<TAB> completed: $got"
got=$(MKIMG_STORE=$T/none complete_words "$MKIMG" inspect "" | tr '\n' ' ')
[ -z "$got" ] || fail "inspect <TAB> without a store completed: $got"
id=$("$MKIMG" pin --store "$S" --pid $$ base)
got=$(complete_words "$MKIMG" unpin --store "$S" "" | tr '\n' ' ')
[ "$got" = "$id " ] || fail "unpin --store S <TAB> completed '$got', not the pin $id"
got=$(complete_words "$MKIMG" convert -b "" | tr '\n' ' ')
[ "$got" = "512 1024 2048 4096 " ] || fail "convert -b <TAB> completed: $got"
got=$(cd "$T" && complete_words "$MKIMG" convert lay | tr '\n' ' ')
[ "$got" = "layer.tar " ] || fail "convert lay<TAB> completed: $got"

echo "man: $n pages render cleanly; $nopt options of $(echo $cmds | wc -w) commands documented and completed"
