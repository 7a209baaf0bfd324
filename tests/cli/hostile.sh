#!/bin/sh
# hostile.sh FLOWRUN — `flowrun validate` on hostile input; prints TAP.
#
# Every file here must be refused with exit status 3 and a located message
# (FILE:LINE:COL: error:, or FILE: error: when the whole file is refused),
# within 10 seconds, without crashing, and in under 200 MB of memory
# (measured with GNU time when /usr/bin/time exists).
#
# Under the sanitizers (FLOWRUN_SANITIZED=1, set by .ci/run) the program runs
# several times slower and its memory is mostly shadow memory: the time limit
# is multiplied by 6 and the memory check skipped.
set -u
FLOWRUN=$1
case $FLOWRUN in /*) ;; *) FLOWRUN=$PWD/$FLOWRUN ;; esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
unset FLOWRUN_CONNECTORS
cd "$tmp" || exit 1
mkdir out
n=0 fail=0
TIME=
[ -x /usr/bin/time ] && /usr/bin/time -f %M -o out/probe true 2>/dev/null &&
	TIME=/usr/bin/time
MAX_RSS_KB=$((200 * 1024))
LIMIT=10
if [ "${FLOWRUN_SANITIZED:-0}" = 1 ]; then
	LIMIT=60
	TIME=
fi

pass() { n=$((n + 1)); echo "ok $n - $1"; }
flunk() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
comment() { head -c 2000 | sed 's/^/#   /'; echo; }

# run FILE: validates FILE; sets rc, leaves stderr in out/err, RSS in out/rss
run() {
	rm -f out/rss
	if [ -n "$TIME" ]; then
		timeout $LIMIT "$TIME" -f %M -o out/rss "$FLOWRUN" validate "$1" \
			>out/out 2>out/err
	else
		timeout $LIMIT "$FLOWRUN" validate "$1" >out/out 2>out/err
	fi
	rc=$?
}

# refused NAME FILE PATTERN [MAXLINES]: FILE must be refused as described
# above; PATTERN (grep -E) must match the first line of stderr, which must
# not be longer than MAXLINES (default 10) lines.
refused() {
	name=$1 file=$2 pattern=$3 maxlines=${4:-10}
	run "$file"
	if [ "$rc" -ge 124 ]; then
		flunk "$name: no crash or timeout (exit $rc)"
	else
		pass "$name: no crash or timeout"
	fi
	[ "$rc" -eq 3 ] && pass "$name: exit 3" || flunk "$name: exit 3 (got $rc)"
	if head -n1 out/err | grep -Eq "$pattern"; then
		pass "$name: located error"
	else
		flunk "$name: located error /$pattern/"
		comment <out/err
	fi
	lines=$(wc -l <out/err)
	[ "$lines" -le "$maxlines" ] && pass "$name: short report ($lines lines)" ||
		{ flunk "$name: short report ($lines lines)"; comment <out/err; }
	if [ -z "$TIME" ]; then
		skip "$name: memory (no /usr/bin/time)"
	else
		rss=$(tail -n1 out/rss 2>/dev/null)
		case $rss in
		'' | *[!0-9]*) flunk "$name: memory measured ($rss)" ;;
		*) [ "$rss" -lt "$MAX_RSS_KB" ] &&
			pass "$name: under 200 MB ($rss KB)" ||
			flunk "$name: under 200 MB ($rss KB)" ;;
		esac
	fi
}

# FILE:LINE:COL: error:
at() { echo "^$1:[0-9]+:[0-9]+: error: $2"; }

: >empty.yaml
refused "empty file" empty.yaml "$(at empty.yaml 'empty file')"

{ head -c 65536 /dev/urandom; printf 'a\0b\0\0'; } >binary.yaml
refused "binary file" binary.yaml "$(at binary.yaml 'binary file')"

# 50 MB of otherwise valid YAML
{
	printf 'integration: big\nflows: {}\nfiller:\n'
	line="  - $(printf '%095d' 0)"
	i=0
	while [ $i -lt 64 ]; do echo "$line"; i=$((i + 1)); done >chunk
	i=0
	while [ $i -lt 8 ]; do cat chunk chunk chunk chunk; i=$((i + 1)); done >chunk2
	i=0
	while [ $i -lt 26 ]; do cat chunk2 chunk2 chunk2 chunk2 chunk2 chunk2 chunk2 chunk2 chunk2 chunk2; i=$((i + 1)); done
} >big.yaml
size=$(wc -c <big.yaml)
[ "$size" -ge $((50 * 1024 * 1024)) ] && pass "big file is 50 MB ($size bytes)" ||
	flunk "big file is 50 MB ($size bytes)"
refused "50 MB file" big.yaml "^big\.yaml: error: file too large"
rm -f big.yaml chunk chunk2

# 100,000 levels of nesting, flow and block styles
awk 'BEGIN { printf "a: "; for (i = 0; i < 100000; i++) printf "[";
	     for (i = 0; i < 100000; i++) printf "]"; print "" }' >deep-flow.yaml
refused "flow nesting 100000 deep" deep-flow.yaml \
	"$(at deep-flow.yaml 'nesting deeper than')"
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "{a: ";
	     print "1" }' >deep-map.yaml
refused "unclosed flow mappings 100000 deep" deep-map.yaml \
	"$(at deep-map.yaml 'nesting deeper than')"
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "- "; print "x" }' \
	>deep-block.yaml
refused "block sequences 100000 deep" deep-block.yaml \
	"$(at deep-block.yaml 'nesting deeper than')"
# indented block mappings grow quadratically: 1000 levels is 1 MB
awk 'BEGIN { s = ""; for (i = 0; i < 1000; i++) { print s "a:"; s = s "  " }
	     print s "b" }' >deep-indent.yaml
refused "indented block mappings 1000 deep" deep-indent.yaml \
	"$(at deep-indent.yaml 'nesting deeper than')"

# billion laughs: 10 levels of 10 aliases each
awk 'BEGIN {
	print "integration: lol"
	print "flows: {}"
	print "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"
	for (i = 1; i <= 9; i++) {
		printf "l%d: &l%d [", i, i
		for (k = 0; k < 10; k++)
			printf "%s*l%d", (k ? ", " : ""), i - 1
		print "]"
	}
}' >bomb.yaml
refused "billion laughs" bomb.yaml "$(at bomb.yaml 'document expands to more than')"

# billion laughs with long strings: few nodes, 90 MB of text once expanded
awk 'BEGIN {
	s = sprintf("%0900d", 0)
	print "integration: lol"
	print "config:"
	print "  c:"
	printf "    default: &l0 ["
	for (k = 0; k < 10; k++) printf "%s\"%s\"", (k ? ", " : ""), s
	print "]"
	for (i = 1; i <= 4; i++) {
		printf "  c%d:\n    default: &l%d [", i, i
		for (k = 0; k < 10; k++) printf "%s*l%d", (k ? ", " : ""), i - 1
		print "]"
	}
	print "flows: {}"
}' >laughs.yaml
size=$(wc -c <laughs.yaml)
[ "$size" -lt 10000 ] && pass "long laughs: a file under 10 KB ($size bytes)" ||
	flunk "long laughs: a file under 10 KB ($size bytes)"
refused "billion laughs with long strings" laughs.yaml \
	"$(at laughs.yaml 'document expands to more than 64 MiB of text through aliases')"

# aliases stacked 120 levels at a time: 14400 levels once expanded, which
# any walk over the document would recurse through
awk 'BEGIN { print "integration: deep"; print "config:"
	for (k = 0; k < 120; k++) {
		printf "  c%d:\n    default: &a%d ", k, k
		for (i = 0; i < 120; i++) printf "["
		if (k == 0) printf "1"; else printf "*a%d", k - 1
		for (i = 0; i < 120; i++) printf "]"
		print ""
	}
	print "flows: {}" }' >deep-alias.yaml
refused "aliases nesting 14400 deep" deep-alias.yaml \
	"$(at deep-alias.yaml 'nesting deeper than 128 levels through aliases')"

printf 'integration: tabs\nflows:\n\tmain:\n\t\tsteps: []\n' >tabs.yaml
refused "tabs for indentation" tabs.yaml \
	"$(at tabs.yaml '.*tabs are not allowed for indentation')"

printf 'integration: utf8\ndescription: "caf\303\251 \303\050 \377"\nflows: {}\n' \
	>utf8.yaml
refused "invalid UTF-8" utf8.yaml "^utf8\.yaml:2:[0-9]+: error: invalid .*UTF-8"

printf 'integration: one\nflows: {}\n---\nintegration: two\nflows: {}\n' >two.yaml
refused "two documents" two.yaml "^two\.yaml:3:1: error: .*second"

# sizes that used to be quadratic: each must finish well within the timeout
awk 'BEGIN { print "integration: anchors"; print "flows: {}"; print "items:"
	     for (i = 0; i < 300000; i++) printf "- &a%d x\n", i
	     for (i = 0; i < 300000; i++) print "- *a0" }' >anchors.yaml
refused "300000 anchors, 300000 aliases" anchors.yaml \
	"$(at anchors.yaml "unknown key 'items'")"
awk 'BEGIN { print "integration: keys"; print "flows: {}"
	     for (i = 0; i < 200000; i++) printf "k%d: 1\n", i }' >keys.yaml
refused "200000 problems in one file" keys.yaml \
	"$(at keys.yaml "unknown key 'k0'")" 700
grep -q '^flowrun: note: 199800 more problems not shown$' out/err &&
	pass "200000 problems: only the first 200 are printed" ||
	flunk "200000 problems: only the first 200 are printed"
awk 'BEGIN { print "integration: wide"; print "flows: {}"; print "items:"
	     for (i = 0; i < 1100000; i++) print "- x" }' >wide.yaml
refused "1100000 list items" wide.yaml \
	"$(at wide.yaml 'document has more than [0-9]+ nodes$')"
rm -f anchors.yaml keys.yaml wide.yaml

# `flowrun run` of one transform step on hostile data: libjq 1.6 crashes,
# overflows its stack or loops in C on these; each must fail the step with
# a clear error (exit 1) instead.
# run_fails NAME EXPR INPUT PATTERN [LEAKS]: PATTERN (grep -E) must match
# the step's error on stderr.  LEAKS: the case abandons a libjq state
# (its assertion was caught), which the leak checker would report.
saved_asan=${ASAN_OPTIONS:-}
run_fails() {
	name=$1 expr=$2 input=$3 pattern=$4 leaks=${5:-}
	printf 'integration: h\nflows:\n  f:\n    steps:\n      - id: x\n        %s: %s\n' \
		"${KIND:-transform}" "'$expr'" >step.yaml
	printf '%s\n' "$input" >input.json
	rm -f out/rss
	if [ -n "$leaks" ]; then
		ASAN_OPTIONS="$saved_asan:detect_leaks=0"
		export ASAN_OPTIONS
	fi
	if [ -n "$TIME" ]; then
		timeout $LIMIT "$TIME" -f %M -o out/rss "$FLOWRUN" run step.yaml \
			--flow f --input @input.json --store "sqlite:$tmp/s.db" \
			>out/out 2>out/err
	else
		timeout $LIMIT "$FLOWRUN" run step.yaml --flow f \
			--input @input.json --store "sqlite:$tmp/s.db" \
			>out/out 2>out/err
	fi
	rc=$?
	if [ -n "$leaks" ]; then
		ASAN_OPTIONS=$saved_asan
		export ASAN_OPTIONS
	fi
	[ "$rc" -eq 1 ] && pass "run $name: exit 1" ||
		{ flunk "run $name: exit 1 (got $rc)"; comment <out/err; }
	if grep "^flowrun: error: step 'x' of flow 'f' failed: " out/err |
		grep -Eq "$pattern"; then
		pass "run $name: the step's error"
	else
		flunk "run $name: the step's error /$pattern/"
		comment <out/err
	fi
	if [ -n "$TIME" ]; then
		rss=$(tail -n1 out/rss 2>/dev/null)
		case $rss in
		'' | *[!0-9]*) flunk "run $name: memory measured ($rss)" ;;
		*) [ "$rss" -lt "$MAX_RSS_KB" ] &&
			pass "run $name: under 200 MB ($rss KB)" ||
			flunk "run $name: under 200 MB ($rss KB)" ;;
		esac
	fi
}

run_fails "todate of 1e20" '.trigger.t | todate' '{"t": 1e20}' \
	'date out of range'
awk 'BEGIN { printf "{\"value\": 1, \"path\": ["
	     for (i = 0; i < 100000; i++) printf "%s\"k\"", (i ? "," : "")
	     print "]}" }' >path.json
run_fails "an object 100000 levels deep" \
	'reduce (.trigger.path|reverse)[] as $k (.trigger.value; {($k): .})' \
	"$(cat path.json)" 'value nested deeper than 10000 levels'
KIND=fail
run_fails "a template value 20000 levels deep" \
	'text ${{ reduce range(20000) as $i (0; [.]) }}' '{}' \
	'value nested deeper than 10000 levels'
KIND=transform
run_fails 'index("")' '.trigger.s | index("") | error("got \(.)")' \
	'{"s": "abc"}' 'got null'
run_fails 'indices("")' '.trigger.s | indices("") | tojson | error("got \(.)")' \
	'{"s": "abc"}' 'got \[\]'
run_fails '" " * 2000000000' '" " * 2000000000' '{}' \
	'string repeated to more than 64 MiB'
run_fails "input" 'input' '{}' 'input is not available'
run_fails "debug" 'debug | error("still here")' '{}' 'still here'
run_fails "paths with several results" '.trigger | paths' '{"a": [1, 2]}' \
	'more than one value'
run_fails ".[nan:]" '.trigger.a | .[nan:]' '{"a": [1, 2]}' \
	'libjq failed on this program and value' leaks
run_fails "-9223372036854775808 % -1" '-9223372036854775808 % -1' '{}' \
	'out of the 64-bit range'

# a sizeable valid project: 50 jq expressions must validate (one batch)
{
	echo "integration: many"
	echo "flows:"
	echo "  main:"
	echo "    steps:"
	i=0
	while [ $i -lt 50 ]; do
		echo "      - id: s$i"
		echo "        transform: '[.trigger.items[] | select(.n > $i) | {id: .id, n: (.n * $i)}] | length'"
		i=$((i + 1))
	done
} >many.yaml
start=$(date +%s%N)
run many.yaml
end=$(date +%s%N)
[ "$rc" -eq 0 ] && pass "50 jq expressions validate" ||
	{ flunk "50 jq expressions validate (exit $rc)"; comment <out/err; }
[ ! -s out/err ] && pass "50 jq expressions: no diagnostics" ||
	{ flunk "50 jq expressions: no diagnostics"; comment <out/err; }
echo "# 50 jq expressions validated in $(((end - start) / 1000000)) ms"

echo "1..$n"
exit $fail
