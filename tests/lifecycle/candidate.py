#!/usr/bin/env python3
"""Prints the shadow tests' candidate: the reference policy (argv[1]) with
edge1's RTP-in rows removed (and their summary mentions) and a rule for TCP
3479 on edge1's A/V address added -- the change the README walks through."""
import sys

text = open(sys.argv[1]).read()


def drop(t, rule):
    start = t.index("- id: %s\n" % rule)
    end = t.index("- id:", start + 5)
    t = t[:start] + t[end:]
    return t.replace(rule + ", ", "", 1)


for rule in ("edge1-ext-av-rtp-udp-in", "edge1-ext-av-rtp-tcp-in"):
    text = drop(text, rule)
NEW = """  - id: edge1-ext-av-stun-tcp-3479
    table: "External Interface Node 1"
    row: 7
    edge_role: "A/V"
    app: "STUN/MSTURN"
    feature: av
    proto: tcp
    src: any
    sport: any
    dst: 131.107.155.30
    dport: 3479
    note: "candidate: STUN over TCP 3479"
"""
at = text.index("  - id: edge1-ext-av-stun-udp-out\n")
sys.stdout.write(text[:at] + NEW + text[at:])
