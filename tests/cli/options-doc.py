"""options-doc.py FLOWRUN MANPAGE SRCDIR — every option in each command's
getopt table (src/cmd_*.c) appears in the synopsis of `flowrun COMMAND
--help` (its "usage:" lines) and in its list of options, and in the
command's entry of the man page, synopsis line and text.  Prints one line per command checked, then
exits 1 with every missing option on stderr."""

import glob
import re
import subprocess
import sys

FUNC = re.compile(r"^int cmd_(\w+)\(int argc, char \*\*argv\)\n\{\n(.*?)\n\}\n",
                  re.S | re.M)
HELPER = re.compile(r"^static int (\w+)\([^)]*\)\n\{\n(.*?)\n\}\n", re.S | re.M)
TABLE = re.compile(r"struct option options\[\] = \{(.*?)\};", re.S)
ENTRY = re.compile(r'\{ "([a-zA-Z][\w-]*)",')


def tables(srcdir):
    """{command: [option, ...]} from the getopt tables of the sources."""
    found = {}
    for path in sorted(glob.glob(srcdir + "/cmd_*.c")):
        text = open(path, encoding="utf-8").read()
        helpers = {m[1]: m[2] for m in HELPER.finditer(text)}
        for m in FUNC.finditer(text):
            body = m[2]
            t = TABLE.search(body)
            if not t:   # cmd_deploy: deploy_main("deploy", ...) has the table
                for name, hbody in helpers.items():
                    if name + "(" in body and TABLE.search(hbody):
                        t = TABLE.search(hbody)
            if t:
                found[m[1]] = ENTRY.findall(t[1])
    return found


def man_entry(man, command):
    m = re.search(r"^\*%s\*.*?(?=^\*[a-z][a-z-]*\*|^# )" % re.escape(command),
                  man, re.S | re.M)
    return m[0] if m else ""


def main(flowrun, manpath, srcdir):
    man = open(manpath, encoding="utf-8").read()
    missing = []
    found = tables(srcdir)
    if len(found) < 10:
        sys.exit("found the getopt tables of only %d commands: %s" % (len(found), found))
    for command, options in sorted(found.items()):
        helptext = subprocess.run([flowrun, command, "--help"], capture_output=True,
                                  text=True, timeout=10).stdout
        entry = man_entry(man, command)
        if not entry:
            missing.append("%s: no entry *%s* in %s" % (command, command, manpath))
        for opt in options:
            word = re.compile(r"--%s(?![\w-])" % re.escape(opt))
            synopsis = helptext.split("\n\n")[0]
            if not word.search(synopsis):
                missing.append("%s --help: --%s is not in its usage lines" % (command, opt))
            if not word.search(helptext[len(synopsis):]) and command != "undeploy":
                missing.append("%s --help does not list --%s" % (command, opt))
            head = entry.split("\n")[0]
            if entry and "_options_" not in head and not word.search(head):
                missing.append("%s: --%s is not in its synopsis in %s" % (command, opt, manpath))
            if entry and not word.search(entry):
                missing.append("%s: --%s is not in its entry of %s" % (command, opt, manpath))
        print("%s: %s" % (command, " ".join("--" + o for o in options)))
    if missing:
        sys.exit("\n".join(missing))


if __name__ == "__main__":
    main(*sys.argv[1:4])
