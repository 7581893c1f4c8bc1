#!/usr/bin/env bash
# libmkimg as installed (no root): `make install DESTDIR=` into a scratch
# directory puts the shared and static library, the headers, mkimg.pc, the
# CLI, its docs, manual pages and bash completion in place;
# tests/install/convert-demo.c, compiled against them through pkg-config
# (shared, then static), writes images that pass fsck.erofs 1.9; the
# shared library exports the public API and nothing else, every symbol in
# the MKIMG_0.1 version node.
. "$(dirname "$0")/lib.sh"
require_oracle

dest=$T/dest
make -s -C "$top_builddir" install DESTDIR="$dest" >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; fail "make install DESTDIR=$dest failed"; }

# where configure's prefix put things, as the installed mkimg.pc says
pc=$(find "$dest" -name mkimg.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || fail "mkimg.pc not installed"
export PKG_CONFIG_PATH=${pc%/*} PKG_CONFIG_SYSROOT_DIR=$dest
pcvar() { PKG_CONFIG_SYSROOT_DIR= pkg-config --variable="$1" mkimg; }
libdir=$dest$(pcvar libdir)
incdir=$dest$(pcvar includedir)
prefix=$(pcvar prefix)
[ "$(pkg-config --modversion mkimg)" = "$(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")" ] ||
	fail "mkimg.pc version is not the package's"

for f in "$libdir/libmkimg.so.0" "$libdir/libmkimg.a" "$dest$prefix/bin/mkimg" \
	 "$dest$prefix/share/doc/mkimg/README.md" "$incdir/mkimg/mkimg.h" "$incdir/mkimg/version.h"; do
	[ -e "$f" ] || fail "not installed: ${f#"$dest"}"
done
for h in "$top_srcdir"/include/mkimg/*.h; do
	[ -f "$incdir/mkimg/${h##*/}" ] || fail "header not installed: ${h##*/}"
done
# each installed header compiles alone, with nothing but what is installed
for h in "$incdir"/mkimg/*.h; do
	echo "#include <mkimg/${h##*/}>" >"$T/h.c"
	cc -std=c11 -Wall -Werror -c -o "$T/h.o" $(pkg-config --cflags mkimg) "$T/h.c" ||
		fail "installed ${h##*/} does not compile alone"
done

# the manual pages (mkimg-snapshotter(8) with the snapshotter) and the bash
# completion, installed under the command's name where bash-completion looks
mandir=$dest$prefix/share/man
for p in "$top_srcdir"/man/*.[158]; do
	n=${p##*/}
	[ "$n" != mkimg-snapshotter.8 ] || [ -e "$dest$prefix/bin/mkimg-snapshotter" ] || continue
	cmp -s "$p" "$mandir/man${n##*.}/$n" || fail "manual page not installed: $n"
done
[ -n "$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$mandir/man1/mkimg.1" 2>/dev/null | grep 'MKIMG_STORE')" ] ||
	fail "the installed mkimg(1) does not render"
compl=$(find "$dest" -path '*/bash-completion/completions/mkimg')
[ -n "$compl" ] || fail "bash completion not installed as .../bash-completion/completions/mkimg"
[ "$(bash -c '. "$1" && complete -p mkimg' _ "$compl")" = "complete -F _mkimg mkimg" ] ||
	fail "the installed completion does not complete mkimg"

# the installed CLI runs against the installed library
LD_LIBRARY_PATH=$libdir "$dest$prefix/bin/mkimg" build --help >/dev/null ||
	fail "installed mkimg does not run"

demo=$top_srcdir/tests/install/convert-demo.c
cc -Wall -Werror -o "$T/demo" "$demo" $(pkg-config --cflags --libs mkimg) ||
	fail "convert-demo does not build against the shared library"
# the static library: libmkimg.a by name, then what mkimg.pc says it
# needs (Requires.private, Libs.private), those as shared libraries
cc -Wall -Werror -o "$T/demo-static" "$demo" $(pkg-config --cflags mkimg) \
	"-L$libdir" -l:libmkimg.a $(pkg-config --libs $(pkg-config --print-requires-private mkimg)) \
	$(pkg-config --static --libs-only-other mkimg) ||
	fail "convert-demo does not build against the static library"
# (outputs captured first: with pipefail, grep -q ending a pipe early fails it)
libs=$(LD_LIBRARY_PATH=$libdir ldd "$T/demo")
[[ $libs == *"libmkimg.so.0 => $libdir/libmkimg.so.0 "* ]] ||
	fail "demo is not linked to the installed libmkimg.so.0: $libs"
libs=$(ldd "$T/demo-static")
[[ $libs != *libmkimg* ]] || fail "demo-static needs libmkimg.so: $libs"

# a tree a user without root can make: directories, small, large and
# sparse files, identical files, a symlink and a hard link
src=$T/src
mkdir -p "$src/d/e" "$src/empty"
echo hello >"$src/d/hello"
cp "$src/d/hello" "$src/d/e/same"
head -c 300000 /dev/urandom >"$src/d/big"
# (ending in data: fsck.erofs 1.9.4 --extract drops a trailing hole)
printf x | dd of="$src/sparse" bs=1 seek=1048575 status=none
ln -s d/hello "$src/link"
ln "$src/d/big" "$src/hard"
touch -h -d @1700000000 "$src" "$src"/* "$src"/d/* "$src"/d/e/*
LD_LIBRARY_PATH=$libdir "$T/demo" "$src" "$T/a.erofs" >"$T/demo.out" ||
	fail "convert-demo (shared) failed"
grep -q "^$(pkg-config --modversion mkimg) " "$T/demo.out" || fail "demo printed $(cat "$T/demo.out")"
"$ORACLE/fsck.erofs" --extract="$T/x" "$T/a.erofs" >"$T/fsck.log" 2>&1 ||
	{ cat "$T/fsck.log"; fail "fsck.erofs failed on the demo's image"; }
diff -r --no-dereference "$src" "$T/x" || fail "the demo's image differs from its source"
"$T/demo-static" "$src" "$T/b.erofs" "$T/b.blob" >/dev/null || fail "convert-demo (static) failed"
"$ORACLE/fsck.erofs" --device="$T/b.blob" --xattr-inode-digest "$T/b.erofs" >"$T/fsck.log" 2>&1 ||
	{ cat "$T/fsck.log"; fail "fsck.erofs failed on the static demo's image and blob"; }
# the CLI makes the same bytes
"$top_builddir/mkimg/mkimg" build -q "$src" "$T/c.erofs"
cmp "$T/a.erofs" "$T/c.erofs" || fail "the demo's image differs from mkimg build's"
# a conversion through mkimg_convert: the same bytes as mkimg convert -o
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$src" -cf "$T/layer.tar" .
gzip -n -k "$T/layer.tar"
LD_LIBRARY_PATH=$libdir "$T/demo" --convert "$T/d.erofs" "$T/layer.tar.gz" >"$T/demo.out" ||
	fail "convert-demo --convert failed"
grep -q "1 layers, 10 entries" "$T/demo.out" || fail "demo --convert printed $(cat "$T/demo.out")"
"$ORACLE/fsck.erofs" --extract="$T/y" "$T/d.erofs" >"$T/fsck.log" 2>&1 ||
	{ cat "$T/fsck.log"; fail "fsck.erofs failed on the demo's converted image"; }
diff -r --no-dereference "$src" "$T/y" || fail "the demo's converted image differs from its source"
"$dest$prefix/bin/mkimg" convert -q -o "$T/e.erofs" "$T/layer.tar.gz" ||
	fail "the installed CLI cannot convert"
cmp "$T/d.erofs" "$T/e.erofs" || fail "mkimg_convert's image differs from mkimg convert's"
"$T/demo-static" --convert "$T/f.erofs" "$T/layer.tar.gz" >/dev/null ||
	fail "convert-demo --convert (static) failed"
cmp "$T/d.erofs" "$T/f.erofs" || fail "the static library converts differently"
LD_LIBRARY_PATH=$libdir "$T/demo" --convert "$T/g.erofs" "$T/missing.tar" 2>"$T/err" &&
	fail "a missing layer was converted"
grep -q "^convert-demo: .*missing.tar" "$T/err" || fail "no message naming the layer: $(cat "$T/err")"
[ ! -e "$T/g.erofs" ] || fail "a failed conversion left an image"

# the CLI (linked statically) needs nothing but the public API: its objects
# link against the shared library
cli_objs=$(ls "$top_builddir"/mkimg/*.o)
cc -o "$T/mkimg-shared" $cli_objs -L"$libdir" -lmkimg $(pkg-config --libs json-c) ||
	fail "the CLI uses symbols libmkimg.so does not export"
LD_LIBRARY_PATH=$libdir "$T/mkimg-shared" --version >/dev/null || fail "the CLI linked shared does not run"

# exported: the public API only (functions declared in the installed headers),
# all of it, each in the version node
so=$libdir/libmkimg.so.0
nm -D --defined-only "$so" | awk '$2 != "A" {sub(/@.*/, "", $3); print $3}' | sort >"$T/exported"
[ -s "$T/exported" ] || fail "libmkimg.so exports nothing"
cat "$incdir"/mkimg/*.h | perl -0pe 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g' |
	grep -oE '\b(mkimg|bs|layout|oci|dirsource)_[a-z0-9_]*[[:space:]]*\(' |
	grep -oE '^[a-z0-9_]+' | sort -u >"$T/declared"
comm -23 "$T/exported" "$T/declared" >"$T/extra"
[ ! -s "$T/extra" ] || fail "exported but not declared in a public header: $(tr '\n' ' ' <"$T/extra")"
comm -13 "$T/exported" "$T/declared" >"$T/missing"
[ ! -s "$T/missing" ] || fail "declared but not exported: $(tr '\n' ' ' <"$T/missing")"
! grep -E '^(st|reg|names|pin|quar)_' "$T/exported" || fail "internal symbols exported"
objdump -T "$so" | awk '$2 ~ /g/ && $4 == ".text" && $6 != "MKIMG_0.1" {print}' >"$T/unversioned"
[ ! -s "$T/unversioned" ] || fail "symbols outside MKIMG_0.1: $(cat "$T/unversioned")"
dyn=$(readelf -d "$so")
[[ $dyn == *"Library soname: [libmkimg.so.0]"* ]] || fail "soname is not libmkimg.so.0"
echo "install: $(wc -l <"$T/exported") symbols exported, demo built shared and static"
