#!/bin/sh
# make demo: starts ptuned on a scratch database, walks the README's curl flow on the demo data set next to
# this file (takeaway reviews, 正面/负面, written for the project), prints every command and answer, and
# stops the daemon with SIGTERM. Exits non-zero if any step fails; tests/integration/test-demo.sh runs it.
#
# Environment: PTUNED_BIN (the daemon), PTUNED_MODEL (the backbone directory), DEMO_DIR (scratch directory,
# emptied first), DEMO_LISTEN (default 127.0.0.1:8080).
set -eu
: "${PTUNED_BIN:?PTUNED_BIN must name the ptuned program}"
: "${PTUNED_MODEL:?PTUNED_MODEL must name a model directory}"
: "${DEMO_DIR:?DEMO_DIR must name a scratch directory}"
listen=${DEMO_LISTEN:-127.0.0.1:8080}
data=$(cd "$(dirname "$0")" && pwd)
base=http://$listen

command -v curl >/dev/null || { echo "demo: curl is not installed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "demo: python3 is not installed (it reads fields of the JSON answers)" >&2; exit 1; }
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
log=$DEMO_DIR/ptuned.log

"$PTUNED_BIN" --model "$PTUNED_MODEL" --db "$DEMO_DIR/ptuned.db" --listen "$listen" 2>"$log" &
pid=$!
stop() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

fail() {
    echo "demo: $*" >&2
    echo "demo: last lines of the daemon's log ($log):" >&2
    tail -n 20 "$log" >&2
    exit 1
}

# field NAME: prints a top-level field of the JSON document on stdin.
field() {
    python3 -c 'import json, sys; v = json.load(sys.stdin)[sys.argv[1]]; print(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))' "$1"
}

# step TITLE CURL_ARGS...: shows the command, runs it, shows the answer; the answer is left in $answer.
step() {
    title=$1
    shift
    printf '\n## %s\n$ curl' "$title"
    for arg in "$@"; do
        case $arg in
            *[!A-Za-z0-9_./:=@%,+-]*) printf " '%s'" "$arg" ;;
            *) printf ' %s' "$arg" ;;
        esac
    done
    printf '\n'
    answer=$(curl -sS --fail-with-body "$@") || fail "$title: the request failed: $answer"
    printf '%s\n' "$answer"
}

i=0
until curl -sf "$base/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || fail "ptuned exited at start"
    i=$((i + 1))
    [ $i -lt 300 ] || fail "ptuned is not ready after 30 s"
    sleep 0.1
done
echo "demo: ptuned (pid $pid) serves $base with the backbone $PTUNED_MODEL, database $DEMO_DIR/ptuned.db"

step "What is loaded" "$base/info"
step "Upload the training set (multipart, like a browser form)" -F "file=@$data/train.tsv" "$base/datasets?name=takeaway-train"
train=$(printf '%s' "$answer" | field id)
step "Upload the dev set (a TSV body)" -H 'Content-Type: text/tab-separated-values' \
    --data-binary "@$data/dev.tsv" "$base/datasets?name=takeaway-dev"
dev=$(printf '%s' "$answer" | field id)
step "Train a prompt: label words 好 and 差 at the [MASK], dev set for early stopping" \
    -H 'Content-Type: application/json' \
    -d "{\"name\": \"takeaway\", \"train_dataset\": $train, \"dev_dataset\": $dev, \"template\": \"{mask}{prompt:8}{text}\", \"verbalizer\": {\"正面\": [\"好\"], \"负面\": [\"差\"]}, \"epochs\": 10, \"batch_size\": 8, \"lr\": 0.03, \"seed\": 1}" \
    "$base/tasks"
task=$(printf '%s' "$answer" | field id)

printf '\n## Wait for training (GET /tasks/%s)\n' "$task"
i=0
while :; do
    answer=$(curl -sS --fail-with-body "$base/tasks/$task") || fail "GET /tasks/$task failed: $answer"
    status=$(printf '%s' "$answer" | field status)
    case $status in
        succeeded) break ;;
        failed|cancelled) fail "training $status: $answer" ;;
    esac
    i=$((i + 1))
    [ $i -lt 1200 ] || fail "training did not finish in 120 s: $answer"
    sleep 0.1
done
printf '%s\n' "$answer"

step "Classify new reviews by task name" -H 'Content-Type: application/json' \
    -d '{"task": "takeaway", "texts": ["包装很用心，菜也是热的，很满意。", "送来的时候汤全洒了，再也不点了。"], "top_k": 2}' \
    "$base/classify"
step "Export the trained prompt (a tar of the three adapter files)" -o "$DEMO_DIR/takeaway.tar" -w '%{http_code} %{size_download} bytes\n' \
    "$base/tasks/$task/adapter"
step "Import it again (as a new succeeded task)" -H 'Content-Type: application/x-tar' \
    --data-binary "@$DEMO_DIR/takeaway.tar" "$base/tasks/import?name=takeaway-copy"
step "Metrics (Prometheus text)" "$base/metrics" -o "$DEMO_DIR/metrics.txt" -w '%{http_code} %{size_download} bytes\n'

printf '\n## Stop the daemon (SIGTERM drains requests in flight)\n'
trap - EXIT
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ $rc -eq 0 ] || fail "ptuned exited $rc after SIGTERM"
echo "demo: done; the daemon's log is $log"
