#!/bin/sh
# usage.sh FLOWRUN MANPAGE — the command line's contract; prints TAP.
#
# MANPAGE is man/flowrun.1.scd.  Run from the repository root (the example
# flows/ and connectors/ are drawn by the graph tests).
set -u
FLOWRUN=$1
MAN=${2:-man/flowrun.1.scd}
case $FLOWRUN in /*) ;; *) FLOWRUN=$PWD/$FLOWRUN ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
unset FLOWRUN_CONNECTORS
# commands run from the repository root: any store they open lives in $tmp,
# never in the source tree
export FLOWRUN_STORE="sqlite:$tmp/flowrun.db"
n=0 fail=0

pass() { n=$((n + 1)); echo "ok $n - $1"; }
flunk() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
comment() { head -c 2000 | sed 's/^/#   /'; echo; }
# check NAME STATUS: pass when the last command's status was STATUS
expect() {
	if [ "$rc" -eq "$2" ]; then pass "$1"; else flunk "$1 (exit $rc, want $2)"; fi
}
fr() { timeout 10 "$FLOWRUN" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }

cd "$root" || exit 1

fr
expect "no arguments exits 2" 2
grep -q '^usage: flowrun ' "$tmp/err" && pass "no arguments: usage on stderr" ||
	flunk "no arguments: usage on stderr"

fr frobnicate
expect "unknown command exits 2" 2
grep -q "'frobnicate' is not a command" "$tmp/err" &&
	pass "unknown command: says so" ||
	{ flunk "unknown command: says so"; comment <"$tmp/err"; }
[ ! -s "$tmp/out" ] && pass "unknown command: nothing on stdout" ||
	flunk "unknown command: nothing on stdout"

fr help
expect "help exits 0" 0
commands=$(sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' "$tmp/out")
ncmds=$(echo "$commands" | grep -c .)
[ "$ncmds" -ge 4 ] && pass "help lists $ncmds commands" ||
	{ flunk "help lists the commands ($ncmds)"; comment <"$tmp/out"; }
for c in graph help validate version; do
	echo "$commands" | grep -qx "$c" && pass "help lists '$c'" ||
		flunk "help lists '$c'"
done
fr --help
expect "--help exits 0" 0
grep -q '^commands:' "$tmp/out" && pass "--help is help" || flunk "--help is help"

[ -s "$MAN" ] && pass "man page $MAN is not empty" ||
	flunk "man page $MAN is not empty"
for c in $commands; do
	fr "$c" --help
	expect "$c --help exits 0" 0
	# help's own help is the command list, which starts "usage: flowrun"
	want="usage: flowrun $c"
	[ "$c" = help ] && want="usage: flowrun "
	grep -q "^$want" "$tmp/out" &&
		pass "$c --help prints its usage on stdout" ||
		{ flunk "$c --help prints its usage on stdout"; comment <"$tmp/out"; }
	[ ! -s "$tmp/err" ] && pass "$c --help: nothing on stderr" ||
		{ flunk "$c --help: nothing on stderr"; comment <"$tmp/err"; }
	fr help "$c"
	expect "help $c exits 0" 0
	grep -q "^$want" "$tmp/out" && pass "help $c is $c --help" ||
		flunk "help $c is $c --help"
	# documented: an entry "*NAME*" opening a line of the COMMANDS section
	grep -q "^\*$c\*" "$MAN" && pass "'$c' is documented in $(basename "$MAN")" ||
		flunk "'$c' is documented in $(basename "$MAN")"
	fr "$c" --no-such-option
	expect "$c: unknown option exits 2" 2
	hint="flowrun $c --help"
	[ "$c" = help ] && hint="flowrun help"
	grep -q "no-such-option" "$tmp/err" && grep -q "$hint" "$tmp/err" &&
		pass "$c: unknown option named, with a hint" ||
		{ flunk "$c: unknown option named, with a hint"; comment <"$tmp/err"; }
done
fr help frobnicate
expect "help for an unknown command exits 2" 2

# every option of every getopt table is in --help (usage lines and list)
# and in the man page
python3 "$here/options-doc.py" "$FLOWRUN" "$MAN" "$root/src" >"$tmp/out" 2>"$tmp/why" &&
	pass "every option is in its command's --help and man entry ($(wc -l <"$tmp/out") commands)" ||
	{ flunk "every option is in its command's --help and man entry"; comment <"$tmp/why"; }

# "did you mean" for commands, options, flows, mocks and a project directory
didyou() {	# didyou NAME WANT: stderr of the last command holds WANT
	grep -qF -- "$2" "$tmp/err" && pass "$1" || { flunk "$1"; comment <"$tmp/err"; }
}
fr valdate
expect "a misspelt command exits 2" 2
didyou "a misspelt command: did you mean" "'valdate' is not a command; did you mean 'validate'?"
fr help valdate
didyou "help of a misspelt command: did you mean" "did you mean 'validate'?"
fr run --flwo account
expect "a misspelt option exits 2" 2
didyou "a misspelt option: did you mean" "flowrun run: did you mean '--flow'?"
fr serve --htp-threads 2
didyou "a misspelt serve option: did you mean" "did you mean '--http-threads'?"
fr validate --Werorr
didyou "a misspelt validate option: did you mean" "did you mean '--Werror'?"
fr run --flow
! grep -q "did you mean" "$tmp/err" && pass "a known option without its value: no did you mean" ||
	flunk "a known option without its value: no did you mean"
fr run --flow acount
expect "a misspelt flow exits 2" 2
didyou "a misspelt flow: did you mean" "no flow 'acount' (or more than one: write INTEGRATION/FLOW); did you mean 'account'?"
fr run --flow progix-to-slak/account
didyou "a misspelt INTEGRATION/FLOW: did you mean" "did you mean 'progix-to-slack/account'?"
fr run --flow account --mock 'progix.get_acounts=[]'
expect "a misspelt mock exits 2" 2
didyou "a misspelt mock: did you mean" "--mock progix.get_acounts: integration 'progix-to-slack' has no such action; did you mean 'progix.get_accounts'?"
fr validate .
expect "validate of a directory without flow files exits 3" 3
didyou "validate DIR with DIR/flows: did you mean" "no flow files (*.yaml) in .; did you mean './flows'?"
fr validate src
! grep -q "did you mean" "$tmp/err" && pass "validate DIR without DIR/flows: no did you mean" ||
	flunk "validate DIR without DIR/flows: no did you mean"

# completion scripts, made from the command table
fr completion bash
expect "completion bash exits 0" 0
cp "$tmp/out" "$tmp/completion.bash"
bash -n "$tmp/completion.bash" 2>"$tmp/why" && pass "bash -n accepts the bash completion" ||
	{ flunk "bash -n accepts the bash completion"; comment <"$tmp/why"; }
# complete "flowrun ru", "flowrun run --re", "flowrun serve --http", "flowrun completion z"
got=$(bash -c '. "$1"
	c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _flowrun; echo "${COMPREPLY[*]}"; }
	c flowrun ru; c flowrun run --re; c flowrun serve --http; c flowrun completion z
	c flowrun validate --W; c flowrun run fl' _ "$tmp/completion.bash" 2>&1)
want=$(printf 'run runs\n--record --record-execution\n--http-threads\nzsh\n--Werror\n')
[ "$got" = "$want" ] && pass "bash completion completes commands, options, shells; files otherwise" ||
	{ flunk "bash completion completes commands, options, shells; files otherwise"; echo "$got" | comment; }
for sh in zsh fish; do
	fr completion $sh
	expect "completion $sh exits 0" 0
	ok=1
	for c in $commands completion; do
		grep -q "$c" "$tmp/out" || { ok=0; echo "# $sh: no $c"; }
	done
	for o in record http-threads queue-limit Werror all-instances; do
		grep -q -- "$o" "$tmp/out" || { ok=0; echo "# $sh: no --$o"; }
	done
	if command -v $sh >/dev/null; then
		$sh -n "$tmp/out" 2>"$tmp/why" || { ok=0; comment <"$tmp/why"; }
	fi
	[ $ok = 1 ] && pass "$sh completion names every command and their options" ||
		flunk "$sh completion names every command and their options"
done
fr completion tcsh
expect "completion of an unknown shell exits 2" 2
grep -q "no completion for 'tcsh'" "$tmp/err" && pass "completion: unknown shell named" ||
	flunk "completion: unknown shell named"

# documentation that must agree with the program
fr run tests/e2e/flows/semantics.yaml --flow loop --input '{"items": [1]}' --json
python3 -c 'import json, re, sys; sys.exit(not re.fullmatch(r"ex_[0-9a-f]{28}", json.load(open(sys.argv[1]))["execution"]))' "$tmp/out" &&
	grep -q 'execution.s id: \*ex\\_\* and 28 hexadecimal digits' "$here/../../man/flowrun-flow.5.scd" &&
	pass "execution ids are ex_ and 28 hex digits, as flowrun-flow(5) says" ||
	{ flunk "execution ids are ex_ and 28 hex digits, as flowrun-flow(5) says"; comment <"$tmp/out"; }
bad=$(sed -n 's/.*[[:space:]=]@\([A-Za-z0-9_./-]*\).*/\1/p' "$root/README.md" |
	while read -r f; do [ -e "$root/$f" ] || echo "$f"; done)
[ -z "$bad" ] && ! grep -qi 'issue notes' "$root/README.md" &&
	pass "README: every @FILE exists, no pointer to notes not in the repository" ||
	flunk "README: every @FILE exists, no pointer to notes not in the repository ($bad)"

# version
fr version
expect "version exits 0" 0
head -n1 "$tmp/out" | grep -Eq '^flowrun [0-9]+\.[0-9]+\.[0-9]+' &&
	pass "version: first line is the flowrun version" ||
	{ flunk "version: first line is the flowrun version"; comment <"$tmp/out"; }
for lib in libcurl jansson libyaml libjq libmicrohttpd sqlite libcrypto; do
	grep -Eq "^ +$lib +[0-9]" "$tmp/out" && pass "version names $lib" ||
		flunk "version names $lib, with its version"
done
fr --version
expect "--version exits 0" 0
head -n1 "$tmp/out" | grep -q '^flowrun ' && pass "--version is version" ||
	flunk "--version is version"
fr version --json
expect "version --json exits 0" 0
if command -v python3 >/dev/null; then
	python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
libs = {"libcurl", "jansson", "libyaml", "libjq", "libmicrohttpd", "sqlite",
        "libcrypto"}
assert isinstance(v["flowrun"], str) and v["flowrun"]
assert libs <= set(v["libraries"]), v
' "$tmp/out" && pass "version --json: flowrun and the seven libraries" ||
		flunk "version --json: flowrun and the seven libraries"
fi
fr version extra
expect "version with an argument exits 2" 2

# graph of the example
fr graph
expect "graph exits 0" 0
if command -v dot >/dev/null; then
	dot -Tsvg "$tmp/out" >"$tmp/svg" 2>"$tmp/doterr" &&
		grep -q '<svg' "$tmp/svg" && pass "graph: dot -Tsvg accepts the output" ||
		{ flunk "graph: dot -Tsvg accepts the output"; comment <"$tmp/doterr"; }
else
	n=$((n + 1)); echo "ok $n # SKIP graphviz not installed"
fi
for f in deploy remove account; do
	grep -q "label=\"progix-to-slack/$f\"" "$tmp/out" &&
		pass "graph draws flow '$f'" || flunk "graph draws flow '$f'"
done
fr graph --format mermaid
expect "graph --format mermaid exits 0" 0
head -n1 "$tmp/out" | grep -q '^flowchart' &&
	pass "mermaid output starts with 'flowchart'" ||
	{ flunk "mermaid output starts with 'flowchart'"; comment <"$tmp/out"; }
fr graph --flow account
expect "graph --flow account exits 0" 0
grep -q 'label="progix-to-slack/account"' "$tmp/out" &&
	! grep -q 'progix-to-slack/deploy\|progix-to-slack/remove' "$tmp/out" &&
	[ "$(grep -c '^  subgraph cluster_' "$tmp/out")" -eq 1 ] &&
	pass "graph --flow account draws only that flow" ||
	{ flunk "graph --flow account draws only that flow"; comment <"$tmp/out"; }
if command -v dot >/dev/null; then
	dot -Tsvg "$tmp/out" >/dev/null 2>&1 && pass "graph --flow: dot accepts it" ||
		flunk "graph --flow: dot accepts it"
fi
# the account flow's loop: the step before it stays outside its cluster, and
# the loop's text is written once
python3 "$here/dot-clusters.py" "$tmp/out" 2>"$tmp/why" &&
	pass "graph: edges into a loop are outside its cluster, no label twice" ||
	{ flunk "graph: edges into a loop are outside its cluster, no label twice"; comment <"$tmp/why"; }
fr graph tests/e2e/flows/semantics.yaml
python3 "$here/dot-clusters.py" "$tmp/out" 2>"$tmp/why" &&
	pass "graph of nested loops and branches: every edge in a cluster holding its ends" ||
	{ flunk "graph of nested loops and branches: every edge in a cluster holding its ends"; comment <"$tmp/why"; }
fr graph --flow progix-to-slack/account --format mermaid
expect "graph --flow INTEGRATION/FLOW exits 0" 0
[ "$(grep -c '^  subgraph ' "$tmp/out")" -eq 1 ] &&
	grep -q 'progix-to-slack/account' "$tmp/out" &&
	pass "mermaid --flow draws one flow" || flunk "mermaid --flow draws one flow"
fr graph --flow nope
expect "graph --flow with an unknown flow exits 2" 2
fr graph --format svg
expect "graph --format svg exits 2" 2
fr graph --flow
expect "graph --flow without its argument exits 2" 2
fr validate no/such/dir
expect "validate of a missing path exits 3" 3
grep -q "no/such/dir" "$tmp/err" && pass "missing path named" ||
	flunk "missing path named"

echo "1..$n"
exit $fail
