#!/usr/bin/env python3
"""Writes l0l3-gateway(1) in roff from the gateway's own --help and --version,
so that the manual lists exactly the options the binary accepts.

Usage: manpage.py GATEWAY_BINARY OUT.1
"""
import re
import subprocess
import sys

gateway, out = sys.argv[1:3]
help_text = subprocess.run([gateway, '--help'], check=True, capture_output=True, text=True).stdout
version = subprocess.run([gateway, '--version'], check=True, capture_output=True, text=True).stdout.strip()


def roff(text):
    text = text.replace('\\', '\\e').replace('-', '\\-')
    return re.sub(r"^([.'])", r'\\&\1', text)


lines = help_text.splitlines()
# Usage: the first lines up to the blank one; the description up to the next blank one.
i = 0
synopsis = []
while i < len(lines) and lines[i].strip():
    synopsis.append(lines[i].replace('Usage: l0l3-gateway', '').strip())
    i += 1
i += 1
description = []
while i < len(lines) and lines[i].strip():
    description.append(lines[i])
    i += 1

# Options: "  --name ARG   text" (or the text on the next, indented lines), headings "Title:".
body = []  # ('heading', title) | ('option', spec, [text lines]) | ('text', line)
for line in lines[i:]:
    if not line.strip():
        continue
    option = re.match(r'^  (--\S+(?: \S+)?)(?:\s{2,}(.*))?$', line)
    if option:
        body.append(['option', option.group(1), [option.group(2)] if option.group(2) else []])
    elif re.match(r'^\S.*:$', line):
        body.append(['heading', line[:-1]])
    elif line.startswith(' ') and body and body[-1][0] == 'option':
        body[-1][2].append(line.strip())
    else:
        body.append(['text', line.strip()])

w = []
w.append('.TH L0L3\\-GATEWAY 1 "" "%s" "User Commands"' % roff(version))
w.append('.SH NAME')
w.append('l0l3\\-gateway \\- L0L3 edge gateway: human\\-approved answers in front of an LLM')
w.append('.SH SYNOPSIS')
w.append('.B l0l3\\-gateway')
w.append(roff(' '.join(synopsis)))
w.append('.br')
w.append('.B l0l3\\-gateway')
w.append('\\-\\-config FILE [options]')
w.append('.SH DESCRIPTION')
w.append(roff(' '.join(l.strip() for l in description)))
w.append('.PP')
w.append('Every option may also be given in the \\-\\-config file as a line')
w.append('.IR "name " = " value"')
w.append('(the option without its dashes); options on the command line win.')
w.append('.SH OPTIONS')
trailer = []
for item in body:
    if item[0] == 'heading':
        w.append('.SS ' + roff(item[1]))
    elif item[0] == 'option':
        name, _, arg = item[1].partition(' ')
        w.append('.TP')
        w.append('.BI "' + roff(name) + ' " ' + roff(arg) if arg else '.B ' + roff(name))
        w.append(roff(' '.join(item[2])))
    else:
        trailer.append(item[1])
w.append('.SH ENVIRONMENT')
w.append(roff(' '.join(trailer)) if trailer else '')
w.append('.SH FILES')
w.append('.TP')
w.append('.I /etc/l0l3/gateway\\-INSTANCE.conf')
w.append('The configuration of l0l3\\-gateway@INSTANCE.service; /etc/l0l3/gateway\\-example.conf is an example.')
w.append('.TP')
w.append('.I /etc/l0l3/gateway\\-INSTANCE.redis\\-password, /etc/l0l3/gateway\\-INSTANCE.api\\-keys')
w.append('Its credentials (root, mode 0600), given to the service with LoadCredential=.')
w.append('.TP')
w.append('.I /etc/l0l3/gateway\\-INSTANCE.env')
w.append('Optional L0L3_UPSTREAM_API_KEY= and L0L3_SENTINEL_AUTH_PASSWORD= (root, mode 0600).')
w.append('.SH SEE ALSO')
w.append('.BR redis\\-server (1),')
w.append('.BR systemd.exec (5);')
w.append('/usr/share/doc/l0l3/ (the architecture, operations and examples).')
with open(out, 'w') as f:
    f.write('\n'.join(w) + '\n')
