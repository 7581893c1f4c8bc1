# shellcheck shell=bash
# Shell functions for a private containerd on its own sockets and root, the
# mkimg snapshotter next to it and a docker-registry on loopback. Sourced by
# tests/containerd/run.sh and bench/containerd-bench.sh. Never touches the
# host's containerd, /var/lib/containerd or its sockets.
#
#   ctd_fetch CACHE SUITE VERSION      containerd's bin dir (fetch-containerd.sh)
#   ctd_config FILE DIR VERSION ITEM...
#                                      a containerd config (VERSION 3: 2.x, 2: 1.7):
#                                      root, state and sockets under DIR, CRI off;
#                                      ITEM NAME=SOCK is a [proxy_plugins.NAME]
#                                      snapshotter on SOCK, any other ITEM an
#                                      unpack_config (SNAPSHOTTER or
#                                      SNAPSHOTTER:DIFFER; the differ defaults to
#                                      walking), in the order given
#   ctd_snapshotter_config FILE SOCK ROOT STORE MKIMG
#   ctd_wait_for SECONDS CMD...        poll until CMD succeeds (0) or time runs out (1)
#   ctd_start_containerd CONFIG LOG [CAFILE]
#                                      sets ctd_pid; containerd answers when it
#                                      returns; CAFILE: its SSL_CERT_FILE
#   ctd_start_snapshotter PIDVAR BIN CONFIG LOG [ARG...]
#                                      BIN --config CONFIG ARG...; sets the variable
#                                      PIDVAR (a global, one an instance: ctd_stop
#                                      kills them all) to its pid; returns when LOG has
#                                      one more "mkimg-snapshotter: serving" line
#                                      (not on the socket: a killed one leaves it)
#   ctd_start_registry DIR LOG [CERT KEY]
#                                      sets ctd_reg_pid and ctd_reg_port (127.0.0.1);
#                                      data in DIR/data; https with CERT and KEY
#   ctd_shims SOCK                     pids of the shims serving containerd on SOCK
#   ctd_stop DIR SOCK                  kill the tasks, shims, containerd and the
#                                      snapshotters started here; drop their shim
#                                      sockets under /run/containerd/s; unmount
#                                      everything under DIR
#   ctd_stop_registry
# The functions print what went wrong on stderr and return non-zero; the caller
# decides how to fail. They work under set -eu. containerd's address for ctr is ctd_sock (set by
# ctd_config), so `ctd_ctr ARGS...` runs `ctr --address ctd_sock ARGS...`.

ctd_pid= ctd_reg_pid= ctd_reg_port= ctd_sock= ctd_log=
ctd_sn_vars= # the names of the snapshotters' pid variables
# containerd 2.1's shims put their sockets in /run/containerd/s: ctd_stop
# removes the directories again if they did not exist before
ctd_run_existed=no
[ -d /run/containerd ] && ctd_run_existed=yes

ctd_fetch() { # CACHE SUITE VERSION
	MKIMG_CONTAINERD_SUITE=$2 MKIMG_CONTAINERD_VERSION=$3. \
		"$(dirname "${BASH_SOURCE[0]}")/fetch-containerd.sh" "$1"
}

ctd_config() { # FILE DIR VERSION ITEM...
	local file=$1 dir=$2 version=$3 u sn differ
	shift 3
	ctd_sock=$dir/containerd.sock
	{
		cat <<-EOF
		version = $version
		root = "$dir/root"
		state = "$dir/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime",
		  "io.containerd.cri.v1.images", "io.containerd.podsandbox.controller.v1.podsandbox"]
		[grpc]
		  address = "$ctd_sock"
		[ttrpc]
		  address = "$ctd_sock.ttrpc"
		[debug]
		  address = "$dir/debug.sock"
		[metrics]
		  address = ""
		EOF
		for u in "$@"; do
			case $u in *=*) printf '[proxy_plugins.%s]\n  type = "snapshot"\n  address = "%s"\n' "${u%%=*}" "${u#*=}" ;; esac
		done
		for u in "$@"; do
			case $u in *=*) continue ;; esac
			sn=${u%%:*} differ=walking
			[ "$sn" = "$u" ] || differ=${u#*:}
			printf "[[plugins.'io.containerd.transfer.v1.local'.unpack_config]]\n"
			printf '  platform = "linux/amd64"\n  snapshotter = "%s"\n  differ = "%s"\n' "$sn" "$differ"
		done
	} > "$file"
}

ctd_snapshotter_config() { # FILE SOCK ROOT STORE MKIMG
	printf 'address = "%s"\nroot = "%s"\nstore = "%s"\nmkimg = "%s"\n' "$2" "$3" "$4" "$5" > "$1"
}

ctd_ctr() { command ctr --address "$ctd_sock" "$@"; }

ctd_wait_for() { # SECONDS CMD...
	local n=$(($1 * 10))
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

ctd_start_containerd() { # CONFIG LOG [CAFILE]
	ctd_log=$2
	if [ -n "${3:-}" ]; then
		SSL_CERT_FILE=$3 containerd --config "$1" >>"$2" 2>&1 &
	else
		containerd --config "$1" >>"$2" 2>&1 &
	fi
	ctd_pid=$!
	ctd_wait_for 20 ctd_ctr version || {
		echo "containerd did not start: $(tail -n 5 "$2")" >&2
		return 1
	}
}

_ctd_served() { # LOG: how many times a snapshotter logging there began to serve
	if [ -f "$1" ]; then grep -c "^mkimg-snapshotter: serving " "$1" || true; else echo 0; fi
}
_ctd_served_or_exit() { [ "$(_ctd_served "$1")" -gt "$2" ] || ! kill -0 "$3" 2>/dev/null; } # LOG N PID
ctd_start_snapshotter() { # PIDVAR BIN CONFIG LOG [ARG...]
	local _ctd_var=$1 _ctd_bin=$2 _ctd_cfg=$3 _ctd_lg=$4 _ctd_n _ctd_p
	shift 4
	_ctd_n=$(_ctd_served "$_ctd_lg")
	"$_ctd_bin" --config "$_ctd_cfg" "$@" >>"$_ctd_lg" 2>&1 &
	_ctd_p=$!
	printf -v "$_ctd_var" %s "$_ctd_p"
	case " $ctd_sn_vars " in *" $_ctd_var "*) ;; *) ctd_sn_vars="$ctd_sn_vars $_ctd_var" ;; esac
	if ! ctd_wait_for 10 _ctd_served_or_exit "$_ctd_lg" "$_ctd_n" "$_ctd_p"; then
		echo "the snapshotter did not start: $(tail -n 5 "$_ctd_lg")" >&2
		return 1
	fi
	if ! kill -0 "$_ctd_p" 2>/dev/null; then
		echo "the snapshotter exited: $(tail -n 5 "$_ctd_lg")" >&2
		return 1
	fi
}

ctd_start_registry() { # DIR LOG [CERT KEY]
	local dir=$1 log=$2 cert=${3:-} key=${4:-} url probe
	mkdir -p "$dir"
	ctd_reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	printf 'version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$dir/data" "$ctd_reg_port" > "$dir/registry.yml"
	url=http://127.0.0.1:$ctd_reg_port/v2/ probe=
	if [ -n "$cert" ]; then
		printf '  tls:\n    certificate: %s\n    key: %s\n' "$cert" "$key" >> "$dir/registry.yml"
		url=https://127.0.0.1:$ctd_reg_port/v2/ probe=", context=ssl.create_default_context(cafile='$cert')"
	fi
	docker-registry serve "$dir/registry.yml" >"$log" 2>&1 &
	ctd_reg_pid=$!
	ctd_wait_for 10 python3 -c "import ssl, urllib.request; urllib.request.urlopen('$url'$probe)" || {
		echo "docker-registry did not start: $(tail -n 3 "$log")" >&2
		return 1
	}
}

ctd_shims() { # SOCK
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -- "containerd-shim.* -address $1 " >/dev/null &&
			echo "${p#/proc/}"
	done
	return 0
}

ctd_stop() { # DIR SOCK
	local dir=$1 sock=$2 p m v pids= opts=$-
	set +e
	if [ -n "$ctd_pid" ] && kill -0 "$ctd_pid" 2>/dev/null; then
		for p in $(command ctr --address "$sock" task ls -q 2>/dev/null); do
			command ctr --address "$sock" task kill -s KILL "$p" >/dev/null 2>&1
		done
	fi
	for p in $(ctd_shims "$sock"); do kill -9 "$p" 2>/dev/null; done
	for v in $ctd_sn_vars; do pids="$pids ${!v:-}"; done
	for p in $ctd_pid $pids; do kill -9 "$p" 2>/dev/null; done
	wait $ctd_pid $pids 2>/dev/null
	ctd_pid=
	for v in $ctd_sn_vars; do printf -v "$v" %s ""; done
	ctd_sn_vars=
	if [ -n "$ctd_log" ]; then
		for p in $(grep -o 'unix:///run/containerd/s/[0-9a-f]*' "$ctd_log" 2>/dev/null | sort -u); do
			p=${p#unix://}
			[ -S "$p" ] && rm -f "$p"
		done
	fi
	if [ "$ctd_run_existed" = no ]; then
		rmdir /run/containerd/s /run/containerd 2>/dev/null
	fi
	for m in $(awk -v t="$dir/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	case $opts in *e*) set -e ;; esac
	return 0
}

ctd_stop_registry() {
	if [ -n "$ctd_reg_pid" ]; then
		kill -9 "$ctd_reg_pid" 2>/dev/null || true
		wait "$ctd_reg_pid" 2>/dev/null || true
	fi
	ctd_reg_pid=
	return 0
}
