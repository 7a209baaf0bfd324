#!/bin/sh
# Builds flowrun (once configured, ninja only rebuilds what changed) and runs
# the Progix to Slack story against the local stand-ins.
set -eu
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec /usr/bin/python3 tests/demo.py build/src/flowrun
