"""diag-forms.py TEXT JSON GITHUB — the three forms of `flowrun validate`'s
diagnostics say the same thing.

TEXT is validate's stderr (the golden NAME.err), JSON its stdout under --json,
GITHUB its stdout under --format github.  Every diagnostic line of the text
form (FILE:LINE:COL: SEVERITY: MESSAGE, or flowrun: SEVERITY: MESSAGE) must
be, in order, one element of the JSON list ({file, line, column, severity,
message, hint}; text = MESSAGE or MESSAGE; HINT) and one ::error / ::warning
line.  Exits 1 with the first difference on stderr.
"""

import json
import re
import sys

TEXT_LINE = re.compile(r"^(?:(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<col>\d+)|flowrun):"
                       r" (?P<sev>error|warning|note): (?P<msg>.*)$")
GITHUB_LINE = re.compile(r"^::(?P<sev>error|warning|notice)"
                         r"(?: file=(?P<file>[^,:]*)(?:,line=(?P<line>\d+),col=(?P<col>\d+))?)?"
                         r"::(?P<msg>.*)$")


def unescape(s):
    return (s.replace("%0A", "\n").replace("%0D", "\r").replace("%3A", ":")
            .replace("%2C", ",").replace("%25", "%"))


def fail(why):
    print(why, file=sys.stderr)
    sys.exit(1)


def main(text_path, json_path, github_path):
    want = []
    for line in open(text_path, encoding="utf-8"):
        m = TEXT_LINE.match(line.rstrip("\n"))
        if m:
            want.append((m["file"], int(m["line"]) if m["line"] else None,
                         int(m["col"]) if m["col"] else None, m["sev"], m["msg"]))
    with open(json_path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, list):
        fail("--json: not a list: %r" % (doc,))
    got = []
    for e in doc:
        if set(e) != {"file", "line", "column", "severity", "message", "hint"}:
            fail("--json: element with keys %s" % sorted(e))
        if e["hint"] is not None and not e["hint"]:
            fail("--json: empty hint in %r" % (e,))
        text = e["message"] + ("; " + e["hint"] if e["hint"] else "")
        got.append((e["file"], e["line"], e["column"], e["severity"], text))
    if got != want:
        fail("--json differs from the text form:\n  json: %r\n  text: %r" % (got, want))
    got = []
    for line in open(github_path, encoding="utf-8"):
        if not line.startswith("::"):
            continue    # validate's own "N files valid" line
        m = GITHUB_LINE.match(line.rstrip("\n"))
        if not m:
            fail("--format github: not a workflow command: %r" % line)
        sev = {"notice": "note"}.get(m["sev"], m["sev"])
        got.append((unescape(m["file"]) if m["file"] is not None else None,
                    int(m["line"]) if m["line"] else None,
                    int(m["col"]) if m["col"] else None, sev, unescape(m["msg"])))
    if got != want:
        fail("--format github differs from the text form:\n  github: %r\n  text: %r"
             % (got, want))


if __name__ == "__main__":
    main(*sys.argv[1:4])
