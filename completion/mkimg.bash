# bash completion for mkimg(1)                      -*- shell-script -*-
# Commands, each command's options (tests/e2e/man.sh checks these lists
# against 'mkimg COMMAND --help'), store image names from 'mkimg ls --json'
# (under --store, else MKIMG_STORE) for commands that take names, pin ids
# for unpin, files otherwise.

_mkimg_commands="analyze build convert mount umount ls inspect rm gc fsck stats pin unpin pins lookup push pull alternate"

# _mkimg_options COMMAND: the options COMMAND takes
_mkimg_options()
{
	case $1 in
	analyze) echo "--store --platform --cdc --lz4 --sample --matrix-chunk --max-holes -q --quiet --json -h --help" ;;
	build) echo "--blob --fingerprint --no-fingerprint --no-inline -b --block-size
		-T --time -U --uuid -L --label --no-fsync -q --quiet --json --help" ;;
	convert) echo "--store --name --max-blobs --no-chunks --trust-store-layers
		--replace --flatten --per-layer -o --output --blob --platform
		--follow-symlinks --fingerprint --no-fingerprint -b --block-size
		--no-fsync --max-holes -q --quiet --json --help" ;;
	mount) echo "--store --device --verify --no-verify --domain --directio
		--no-loop --print --json --help" ;;
	umount) echo "--store --force --help" ;;
	ls) echo "--store --remote --json --help --tls-verify --ca-file --creds --authfile --timeout" ;;
	stats | pins) echo "--store --json --help" ;;
	gc) echo "--store -q --quiet --json --help" ;;
	alternate) echo "--store --json --help" ;;
	inspect) echo "--store --json --help" ;;
	rm | unpin) echo "--store --help" ;;
	fsck) echo "--store -q --quiet --full --repair --rehome --help" ;;
	pin) echo "--store --pid --what --help" ;;
	lookup) echo "--store --chain --build --follow-symlinks --no-fsync --json --help" ;;
	push) echo "--store --no-fsync --json --quiet -q --help --subject --mount-from --tls-verify --ca-file --creds --authfile --timeout" ;;
	pull) echo "--store --name --replace --chain --no-fsync --json --quiet -q --help --tls-verify --ca-file --creds --authfile --timeout" ;;
	esac
}

# _mkimg_json_strings KEY: the values of "KEY" that open an object in the
# JSON array on stdin (json-c's plain output, one line)
_mkimg_json_strings()
{
	local json re v
	json=$(cat)
	re="\{\"$1\":\"(([^\"\\\\]|\\\\.)*)\""
	while [[ $json =~ $re ]]; do
		v=${BASH_REMATCH[1]}
		json=${json#*"${BASH_REMATCH[0]}"}
		v=${v//\\\"/\"}
		v=${v//\\\\/\\}
		printf '%s\n' "$v"
	done
}

# _mkimg_store_words MKIMG KEY SUBCOMMAND WORD...: the store's names (or
# pin ids), the store taken from --store in the words or MKIMG_STORE
_mkimg_store_words()
{
	local mk=$1 key=$2 sub=$3 store= i
	shift 3
	local -a w=("$@")
	for ((i = 0; i < ${#w[@]}; i++)); do
		case ${w[i]} in
		--store=*) store=${w[i]#--store=} ;;
		--store) store=${w[i + 1]} ;;
		esac
	done
	store=${store/#\~/$HOME}
	if [[ -n $store ]]; then
		"$mk" "$sub" --store "$store" --json 2>/dev/null
	else
		"$mk" "$sub" --json 2>/dev/null
	fi | _mkimg_json_strings "$key"
}

# _mkimg_add_matching CUR: the lines of stdin that start with CUR, quoted
_mkimg_add_matching()
{
	local w q
	while IFS= read -r w; do
		[[ $w == "$1"* ]] || continue
		printf -v q '%q' "$w"
		COMPREPLY+=("$q")
	done
}

_mkimg_files()
{
	local IFS=$'\n'
	compopt -o filenames 2>/dev/null
	COMPREPLY+=($(compgen -${2:-f} -- "$1"))
}

_mkimg()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev= cmd= mk=${COMP_WORDS[0]} i
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()
	mk=${mk/#\~/$HOME}
	if ((COMP_CWORD == 1)); then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "-h --help -V --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$_mkimg_commands" -- "$cur"))
		fi
		return 0
	fi
	cmd=${COMP_WORDS[1]}
	# the argument of an option
	case $prev in
	--store | --output | -o | --blob | --device | --config)
		_mkimg_files "$cur" "$([[ $prev == --store ]] && echo d || echo f)"
		return 0 ;;
	-b | --block-size)
		COMPREPLY=($(compgen -W "512 1024 2048 4096" -- "$cur"))
		return 0 ;;
	--pid)
		COMPREPLY=($(compgen -W "$(ps -eo pid= 2>/dev/null)" -- "$cur"))
		return 0 ;;
	--matrix-chunk)
		COMPREPLY=($(compgen -W "4K 16K 64K 1M" -- "$cur"))
		return 0 ;;
	--name | --platform | --max-blobs | --max-holes | --sample | --chain | --domain | \
	-T | --time | -U | --uuid | -L | --label | --what)
		return 0 ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_mkimg_options "$cmd")" -- "$cur"))
		return 0
	fi
	case $cmd in
	inspect | rm | pin | push)
		_mkimg_add_matching "$cur" < <(_mkimg_store_words "$mk" name ls "${COMP_WORDS[@]}") ;;
	mount)
		# a store image's name, or an image file (then the mount point)
		_mkimg_add_matching "$cur" < <(_mkimg_store_words "$mk" name ls "${COMP_WORDS[@]}")
		_mkimg_files "$cur" ;;
	unpin)
		_mkimg_add_matching "$cur" < <(_mkimg_store_words "$mk" id pins "${COMP_WORDS[@]}") ;;
	ls | gc | fsck | stats | pins | lookup) ;;
	umount) _mkimg_files "$cur" d ;;
	alternate)
		# add, rm or ls, then an OCI layout directory
		_mkimg_add_matching "$cur" < <(printf '%s\n' add rm ls)
		_mkimg_files "$cur" d ;;
	*) _mkimg_files "$cur" ;;
	esac
	return 0
}
complete -F _mkimg mkimg
