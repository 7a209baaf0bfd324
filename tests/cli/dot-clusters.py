"""dot-clusters.py FILE — checks flowrun graph's dot output: every edge
statement sits in a cluster that holds both of its ends (an edge statement
inside a cluster pulls a node declared elsewhere into it), and no cluster
repeats a node's label (the loop's text is written once, on its node).  Exits 1 saying why."""

import re
import sys

NODE = re.compile(r"^\s*(\w+) \[shape=")
EDGE = re.compile(r"^\s*(\w+) -> (\w+)")
OPEN = re.compile(r"^\s*subgraph (cluster_\w+) \{")
LABEL = re.compile(r'label="([^"]*)"')


def main(path):
    stack = [("root", set(), [])]      # cluster, nodes inside, edges inside
    cluster_labels, node_labels = set(), set()
    for line in open(path, encoding="utf-8"):
        if line.strip().startswith("label="):
            cluster_labels.update(LABEL.findall(line))
        elif NODE.match(line):
            node_labels.update(LABEL.findall(line))
        if OPEN.match(line):
            stack.append((OPEN.match(line)[1], set(), []))
        elif line.strip() == "}" and len(stack) > 1:
            name, nodes, edges = stack.pop()
            for a, b in edges:
                if a not in nodes or b not in nodes:
                    sys.exit("edge %s -> %s is written in %s, which does not "
                             "hold %s" % (a, b, name, a if a not in nodes else b))
            stack[-1][1].update(nodes)
        elif NODE.match(line):
            stack[-1][1].add(NODE.match(line)[1])
        elif EDGE.match(line):
            stack[-1][2].append(EDGE.match(line).groups())
    twice = sorted(cluster_labels & node_labels)
    if twice:
        sys.exit("labels written on a cluster and on a node: %s" % twice)


if __name__ == "__main__":
    main(sys.argv[1])
