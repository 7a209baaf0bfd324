#!/bin/bash
# The peer comparison (issue 13, item 1): the account workload on Node-RED and on
# this flowrun, in one sitting, with the harness of ../shared/peers.  Prints each
# peer's RESULT line and the ratio of messages delivered per second (sink_mps, the
# end-to-end figure) at CONNS connections.  Asserts nothing.
#
# usage: tests/bench/peers.sh FLOWRUN [PEERS_DIR]
#   PEERS_DIR (default /tmp/peers) is a writable copy of the harness:
#     cp -r ../shared/peers /tmp/peers && /tmp/peers/setup.sh
#   DURATION, CONNS: passed to the harness (defaults 30, 16).
set -eu
FLOWRUN=$(realpath "$1")
PEERS=${2:-/tmp/peers}
if [ ! -x "$PEERS/run-peer.sh" ] || [ ! -d "$PEERS/node-red/node_modules" ]; then
	echo "no peer harness at $PEERS: copy it out and set it up first:"
	echo "  cp -r ../shared/peers $PEERS && $PEERS/setup.sh"
	exit 77
fi
cd "$PEERS"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1 /proc/loadavg)"
rm -f f.db f.db-wal f.db-shm
./run-peer.sh node-red 2>/dev/null | grep '^RESULT' | tee "$PEERS/nodered.result"
FLOWRUN_CMD="$FLOWRUN serve flowrun/flows --connectors flowrun/connectors --store sqlite:$PEERS/f.db --listen 127.0.0.1:19010 -q" \
	PEER_PORT=19010 ./run-peer.sh flowrun 2>/dev/null | grep '^RESULT' | tee "$PEERS/flowrun.result"
# the main run is the last sink_mps of each line (c16 by default)
mps() { grep -o 'sink_mps=[0-9.]*' "$1" | tail -1 | cut -d= -f2; }
awk -v f="$(mps "$PEERS/flowrun.result")" -v n="$(mps "$PEERS/nodered.result")" 'BEGIN {
	if (n > 0) printf "messages delivered per second: flowrun %s, Node-RED %s: %.1fx\n", f, n, f / n }'
