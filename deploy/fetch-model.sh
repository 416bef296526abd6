#!/usr/bin/env bash
# Downloads a BERT checkpoint from the Hugging Face hub into a model directory ptune and ptuned load.
# Needs curl and internet access (neither the build machines nor CI have the latter: the test serves a
# generated model from a loopback server through HF_ENDPOINT). Run with --help for the details.
set -euo pipefail

prog=fetch-model.sh
usage() {
    cat <<'EOF'
usage: fetch-model.sh [OPTIONS] NAME

Downloads the Hugging Face BERT checkpoint NAME (e.g. bert-base-chinese, google-bert/bert-base-chinese,
hfl/chinese-roberta-wwm-ext) into a model directory for ptune and ptuned (PTUNED_MODEL):
  config.json            required; its model_type must be "bert"
  vocab.txt              required; must contain [CLS], [SEP], [MASK], [UNK] and [PAD]
  model.safetensors      required; F32, F16 or BF16 weights with BertForMaskedLM key names
  tokenizer_config.json  optional (do_lower_case); skipped when the repository has none

Options:
  --dir DIR        target directory (default: models/<last part of NAME>)
  --revision REV   branch, tag or commit of the repository (default: main)
  --force          replace DIR if it exists
  -h, --help       this text

Environment:
  HF_ENDPOINT      hub address (default https://huggingface.co), e.g. a mirror
  HF_TOKEN         access token for gated or private repositories

Files go to a temporary directory next to DIR and are checked (LFS files against the sha256 the hub
announces, config.json, vocab.txt, the safetensors header, and a load with ptune when it is found), and
only then moved to DIR: an interrupted or failed run leaves nothing half done.
Exit status: 0 done, 1 download or check failed, 2 usage error.
EOF
}
die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*" >&2; echo "run '$prog --help' for usage" >&2; exit 2; }

name="" dir="" revision=main force=0
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --dir) [ $# -ge 2 ] || usage_error "--dir needs a directory"; dir=$2; shift 2 ;;
        --dir=*) dir=${1#--dir=}; shift ;;
        --revision) [ $# -ge 2 ] || usage_error "--revision needs a value"; revision=$2; shift 2 ;;
        --revision=*) revision=${1#--revision=}; shift ;;
        --force) force=1; shift ;;
        -*) usage_error "unknown option '$1'" ;;
        *) [ -z "$name" ] || usage_error "one NAME only (got '$name' and '$1')"; name=$1; shift ;;
    esac
done
[ -n "$name" ] || usage_error "missing NAME (e.g. bert-base-chinese)"
# Hub names are [owner/]repo; refusing anything else keeps the name from escaping the URL path.
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$ ]] ||
    usage_error "'$name' is not a Hugging Face model name ([owner/]repo of letters, digits, '.', '_', '-')"
[[ $name != *..* ]] || usage_error "'$name' is not a Hugging Face model name ('..' is not allowed)"
[[ $revision =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*$ && $revision != *..* ]] ||
    usage_error "'$revision' is not a revision (a branch, tag or commit name)"
[ -n "$dir" ] || dir=models/${name##*/}
dir=${dir%/}
[ -n "$dir" ] || usage_error "--dir must not be the root directory"
if [ -e "$dir" ] && [ $force -eq 0 ]; then
    usage_error "'$dir' exists; choose another --dir or pass --force to replace it"
fi
command -v curl >/dev/null || die "curl is not installed (Debian: apt-get install curl)"
command -v sha256sum >/dev/null || die "sha256sum is not installed (Debian: coreutils)"

endpoint=${HF_ENDPOINT:-https://huggingface.co}
endpoint=${endpoint%/}
# A revision such as refs/pr/1 is one path segment in the hub's URLs.
rev_path=${revision//\//%2F}
parent=$(dirname -- "$dir")
mkdir -p -- "$parent" || die "cannot create '$parent'"
work=$(mktemp -d "$parent/.fetch-model.XXXXXX") || die "cannot create a temporary directory in '$parent'"
trap 'rm -rf -- "$work"' EXIT
trap 'exit 130' INT TERM

# The token goes to curl through a file, not its command line, where any local user could read it.
auth=()
if [ -n "${HF_TOKEN:-}" ]; then
    (umask 077 && printf 'Authorization: Bearer %s\n' "$HF_TOKEN" > "$work/.auth")
    auth=(-H "@$work/.auth")
fi

# fetch FILE REQUIRED: downloads FILE into $work; returns 1 if the hub has no such optional file.
fetch() {
    local file=$1 required=$2 url code
    url="$endpoint/$name/resolve/$rev_path/$file"
    echo "$prog: $url" >&2
    code=$(curl -sS -L --retry 3 --retry-delay 2 --connect-timeout 20 ${auth[@]+"${auth[@]}"} \
        -D "$work/$file.headers" -o "$work/$file" -w '%{http_code}' "$url") ||
        die "downloading $file from $url failed (curl error above)"
    case $code in
        200) ;;
        401|403) die "$file: HTTP $code from $url; the repository is gated or private: set HF_TOKEN to a token that may read it" ;;
        404)
            rm -f -- "$work/$file" "$work/$file.headers"
            [ "$required" = optional ] && { echo "$prog: $file: none in $name, skipped" >&2; return 1; }
            if [ "$file" = model.safetensors ]; then
                die "model.safetensors: $name has none at revision '$revision' (HTTP 404); older repositories ship only pytorch_model.bin: look for a revision with safetensors (e.g. an open 'refs/pr/N' conversion, --revision refs/pr/N) or convert the weights with PyTorch and the safetensors package"
            fi
            die "$file: HTTP 404 from $url: no such model, revision or file (check NAME and --revision)" ;;
        *) die "$file: HTTP $code from $url" ;;
    esac
    [ -s "$work/$file" ] || die "$file: the hub sent an empty file"
    check_sha256 "$file"
}

# LFS files (the weights) come with the sha256 of their content in X-Linked-Etag: a truncated or altered
# download is caught here rather than as a confusing load error later.
check_sha256() {
    local file=$1 want got
    want=$(tr -d '\r' < "$work/$file.headers" | sed -n 's/^[Xx]-[Ll]inked-[Ee][Tt]ag: *"\{0,1\}\([0-9a-f]\{64\}\)"\{0,1\}$/\1/p' | tail -n 1)
    rm -f -- "$work/$file.headers"
    [ -n "$want" ] || return 0
    got=$(sha256sum -- "$work/$file" | cut -d' ' -f1)
    [ "$got" = "$want" ] || die "$file: sha256 $got, but the hub announced $want (download corrupted; run again)"
    echo "$prog: $file: sha256 ok" >&2
}

check_config() {
    local f=$work/config.json type
    grep -q '^[[:space:]]*{' "$f" || die "config.json is not a JSON object (first bytes: $(head -c 40 "$f" | tr -d '\n'))"
    type=$(tr -d '\n' < "$f" | sed -n 's/.*"model_type"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
    [ -n "$type" ] || die "config.json has no \"model_type\"; is $name a transformers model?"
    [ "$type" = bert ] || die "config.json says model_type \"$type\"; ptuned loads BERT masked-language models only"
}

check_vocab() {
    local f=$work/vocab.txt token
    for token in '[CLS]' '[SEP]' '[MASK]' '[UNK]' '[PAD]'; do
        awk -v t="$token" '{ sub(/\r$/, "") } $0 == t { found = 1; exit } END { exit !found }' "$f" ||
            die "vocab.txt has no line '$token'; not a BERT WordPiece vocabulary"
    done
}

# The file starts with an 8-byte little-endian header length and a JSON header naming the tensors.
check_safetensors() {
    local f=$work/model.safetensors size hlen=0 i found
    local -a b
    size=$(wc -c < "$f")
    [ "$size" -ge 10 ] || die "model.safetensors: $size bytes, too short for a safetensors file"
    read -r -a b <<< "$(od -An -tu1 -N8 -- "$f")"
    for ((i = 7; i >= 0; i--)); do hlen=$((hlen * 256 + b[i])); done
    ((hlen >= 2 && hlen <= size - 8)) ||
        die "model.safetensors: header length $hlen does not fit the file size $size; not a safetensors file"
    [ "$(od -An -c -j8 -N1 -- "$f" | tr -d ' ')" = "{" ] ||
        die "model.safetensors: the header at byte 8 is not JSON; not a safetensors file"
    # grep -c reads to the end: grep -q would leave head writing into a closed pipe (pipefail).
    found=$(head -c $((8 + hlen)) -- "$f" | grep -c 'embeddings\.word_embeddings\.weight' || true)
    [ "$found" -gt 0 ] || die "model.safetensors: no embeddings.word_embeddings.weight tensor; not a BERT checkpoint"
}

fetch config.json required
check_config
fetch vocab.txt required
check_vocab
fetch model.safetensors required
check_safetensors
fetch tokenizer_config.json optional || true

# The last word belongs to the loader itself, when one is at hand.
here=$(cd -- "$(dirname -- "$0")" && pwd)
ptune=${PTUNE_BIN:-}
[ -n "$ptune" ] || ptune=$(command -v ptune || true)
[ -n "$ptune" ] || { [ -x "$here/../bin/ptune" ] && ptune=$here/../bin/ptune; }
if [ -n "$ptune" ]; then
    info=$("$ptune" info --model "$work" 2>&1) || { echo "$info" >&2; die "'$ptune info --model' cannot load the downloaded model (above)"; }
    echo "$prog: loads with $ptune" >&2
fi

rm -f -- "$work/.auth"
chmod 0755 "$work"
if [ -e "$dir" ]; then
    rm -rf -- "$dir" || die "cannot remove the existing '$dir'"
fi
mv -- "$work" "$dir" || die "cannot move the model into '$dir'"
trap - EXIT
echo "$prog: $name ($revision) is in $dir; start the daemon with PTUNED_MODEL=$dir"
