#!/bin/sh
# The README demo: starts bots-jobqueueserver on the sample config in a
# scratch Bots folder, queues jobs of different priorities with
# bots-job2queue (one of them a duplicate), waits for them, and shows from
# the log that they ran one at a time in priority order.
# Usage: demo.sh BINDIR   (the folder holding the built programs)
set -e
bindir=$(cd "${1:-src}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
bots=$(mktemp -d "${TMPDIR:-/tmp}/bots-demo.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

mkdir "$bots/config"
sed -e "s/^port = .*/port = $port/" \
    -e "s/^authorized_tasks = .*/authorized_tasks = echo sleep/" \
    -e "s/^log_console = .*/log_console = False/" \
    "$here/config/bots.ini" > "$bots/config/bots.ini"
log="$bots/botssys/logging/jobqueue.log"

"$bindir/bots-jobqueueserver" "-c$bots/config" &
server=$!
# The server may have stopped already: under set -e a failing kill in the
# trap would become the script's exit status.
cleanup() {
  kill "$server" 2>/dev/null || :
  wait "$server" 2>/dev/null || :
  rm -rf "$bots"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
until grep -q "Bots jobqueue started" "$log" 2>/dev/null; do
  kill -0 $server 2>/dev/null || { echo "the server did not start"; exit 1; }
  sleep 0.1
done

q() { echo "\$ bots-job2queue $*"; "$bindir/bots-job2queue" "-c$bots/config" "$@" || true; }
echo "== queueing jobs (the first one keeps the queue busy for two seconds)"
q -p5 sleep 2
q -p9 echo "priority 9: runs last"
q -p1 echo "priority 1: runs first"
q -p5 echo "priority 5: runs second"
q -p1 echo "priority 1: runs first"
q -p3 rm -rf /
echo
echo "== waiting for the four jobs to finish"
until [ "$(grep -c 'Finished job' "$log" 2>/dev/null)" -ge 4 ]; do sleep 0.2; done
kill $server; wait $server || true
echo
echo "== $log"
cat "$log"
