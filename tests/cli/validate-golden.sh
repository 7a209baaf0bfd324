#!/bin/sh
# validate-golden.sh FLOWRUN — golden tests for `flowrun validate`; prints TAP.
#
# Each tests/validate/NAME.yaml is validated from inside tests/validate (so
# paths in messages are relative, and the project root is tests/validate with
# its connectors/).  Its stderr must equal NAME.err byte for byte, and its
# exit status must be 3, or N when the file has a line "# expect-exit: N".
# A line "# connectors: DIR" adds --connectors DIR (for connector files whose
# mistakes would otherwise show in every test).
# Then the repository's own example must validate clean.
#
# To update a golden file after a deliberate change, run the command shown in
# the failure and review the diff.
set -u
FLOWRUN=$1
case $FLOWRUN in /*) ;; *) FLOWRUN=$PWD/$FLOWRUN ;; esac
here=$(cd "$(dirname "$0")" && pwd)
dir=$here/../validate
root=$here/../..
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
unset FLOWRUN_CONNECTORS
n=0 fail=0

pass() { n=$((n + 1)); echo "ok $n - $1"; }
flunk() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
comment() { sed 's/^/#   /'; }

count=0
for yaml in "$dir"/*.yaml; do
	name=$(basename "$yaml" .yaml)
	count=$((count + 1))
	want=3
	line=$(grep -m1 '^# expect-exit: ' "$yaml")
	[ -n "$line" ] && want=${line#\# expect-exit: }
	set --
	line=$(grep -m1 '^# connectors: ' "$yaml")
	[ -n "$line" ] && set -- --connectors "${line#\# connectors: }"
	if [ ! -f "$dir/$name.err" ]; then
		flunk "$name: $name.err exists"
		continue
	fi
	(cd "$dir" && exec timeout 10 "$FLOWRUN" validate "$@" "$name.yaml") \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass "$name: exit status $want"
	else
		flunk "$name: exit status $want (got $rc)"
	fi
	if cmp -s "$dir/$name.err" "$tmp/err"; then
		pass "$name: stderr matches $name.err"
	else
		flunk "$name: stderr matches $name.err"
		diff -u "$dir/$name.err" "$tmp/err" | comment
		echo "#   update: (cd tests/validate && flowrun validate $* $name.yaml 2>$name.err)"
	fi
	if [ "$want" -ne 0 ] && [ -s "$tmp/out" ]; then
		flunk "$name: nothing on stdout when invalid"
		comment <"$tmp/out"
	fi
	# the same diagnostics as data (--json) and as GitHub annotations
	cp "$tmp/err" "$tmp/text"
	(cd "$dir" && exec timeout 10 "$FLOWRUN" validate --json "$@" "$name.yaml") \
		>"$tmp/json" 2>"$tmp/err"
	rc_json=$?
	(cd "$dir" && exec timeout 10 "$FLOWRUN" validate --format github \
		"$@" "$name.yaml") >"$tmp/github" 2>"$tmp/err2"
	rc_github=$?
	if [ "$rc_json" -eq "$want" ] && [ "$rc_github" -eq "$want" ]; then
		pass "$name: --json and --format github exit $want"
	else
		flunk "$name: --json and --format github exit $want (got $rc_json, $rc_github)"
	fi
	if python3 "$here/diag-forms.py" "$dir/$name.err" "$tmp/json" \
		"$tmp/github" 2>"$tmp/why"; then
		pass "$name: --json and --format github say what $name.err says"
	else
		flunk "$name: --json and --format github say what $name.err says"
		comment <"$tmp/why"
	fi
	if grep -v '^flowrun: [0-9]* errors\?, ' "$tmp/err" "$tmp/err2" | grep -q .; then
		flunk "$name: --json and --format github: stderr holds only the summary"
		comment <"$tmp/err"
	else
		pass "$name: --json and --format github: stderr holds only the summary"
	fi
done

# a stale .err without its .yaml is a test that silently stopped running
for err in "$dir"/*.err; do
	name=$(basename "$err" .err)
	[ -f "$dir/$name.yaml" ] || flunk "$name.err has a $name.yaml"
done
[ "$count" -ge 16 ] && pass "found $count golden files" ||
	flunk "found $count golden files, expected at least 16"

grep -c ': error: ' "$dir/ten-mistakes.err" | grep -qx 10 &&
	pass "ten-mistakes: ten located errors" ||
	flunk "ten-mistakes: ten located errors"
grep -q 'flowrun: 10 errors, 0 warnings' "$dir/ten-mistakes.err" &&
	pass "ten-mistakes: summary counts ten" ||
	flunk "ten-mistakes: summary counts ten"

# warnings: exit 0, but 3 with --Werror
(cd "$dir" && exec timeout 10 "$FLOWRUN" validate --Werror \
	reference-warnings.yaml) >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 3 ] && pass "--Werror: warnings exit 3" ||
	flunk "--Werror: warnings exit 3 (got $rc)"
grep -q '^flowrun: 0 errors, 4 warnings in 2 files$' "$tmp/err" &&
	pass "--Werror: summary line" || flunk "--Werror: summary line"

# several files at once: every problem of every file
(cd "$dir" && exec timeout 10 "$FLOWRUN" validate yaml-syntax.yaml \
	duplicate-ids.yaml) >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 3 ] && grep -q '^yaml-syntax.yaml:6:20: error' "$tmp/err" &&
	grep -q '^duplicate-ids.yaml:17:13: error' "$tmp/err" &&
	grep -q '^flowrun: 4 errors, 0 warnings in 3 files$' "$tmp/err" &&
	pass "two files: problems of both reported" ||
	{ flunk "two files: problems of both reported (exit $rc)"; comment <"$tmp/err"; }

# the repository's example validates clean
(cd "$root" && exec timeout 10 "$FLOWRUN" validate) >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && pass "example: flowrun validate in the repository exits 0" ||
	flunk "example: flowrun validate in the repository exits 0 (got $rc)"
[ ! -s "$tmp/err" ] && pass "example: no diagnostics" ||
	{ flunk "example: no diagnostics"; comment <"$tmp/err"; }
# every integration of flows/ is counted (the examples: one file each)
nin=$(grep -l '^integration:' "$root"/flows/*.yaml | wc -l)
[ "$nin" -eq 1 ] && want_in="1 integration" || want_in="$nin integrations"
grep -q ' 0 warnings)$' "$tmp/out" && grep -q "($want_in, " "$tmp/out" &&
	pass "example: $want_in, 0 warnings" ||
	{ flunk "example: $want_in, 0 warnings"; comment <"$tmp/out"; }
for f in "$root"/flows/*.yaml; do
	case $f in *.test.yaml) continue ;; esac
	(cd "$root" && exec timeout 10 "$FLOWRUN" validate --Werror \
		"flows/${f##*/}") >/dev/null 2>"$tmp/err"
	rc=$?
	[ "$rc" -eq 0 ] && pass "example: flows/${f##*/} passes --Werror" ||
		{ flunk "example: flows/${f##*/} passes --Werror (got $rc)"; comment <"$tmp/err"; }
done

echo "1..$n"
exit $fail
