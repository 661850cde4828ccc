#!/bin/sh
# Records what a real libvirtd 9.0 (test driver) answers for the fixtures in
# test/fixtures/libvirt-domains: `define` then `dumpxml` / `dumpxml --inactive`
# for the valid ones and the redefinition of `test` (a UUID the daemon drew
# replaced by <UUID>); virsh's stderr and the error's numbers (python) for
# invalid-* and define-conflict-*; the default domain's dumpxml.
# Usage (as root, with a private libvirtd running as libvirt-wire.md §10 says):
#   scripts/record-libvirt-domains.sh <socket path>
set -eu
SOCK=$1
URI="test+unix:///default?socket=$SOCK"
cd "$(dirname "$0")/../test/fixtures/libvirt-domains"
# The default node's running domain, for the formatter's regression test.
LC_ALL=C virsh -c "$URI" dumpxml test >default-test.dumpxml
LC_ALL=C virsh -c "$URI" dumpxml --inactive test >default-test.dumpxml-inactive
for f in *.xml; do
  n=${f%.xml}
  case $n in
  define-redefine-*)
    # A new definition for the running `test`: the live XML and the persistent one after it.
    LC_ALL=C virsh -c "$URI" "define $f; dumpxml test" | sed '1,2d' >"$n.dumpxml"
    LC_ALL=C virsh -c "$URI" "define $f; dumpxml --inactive test" | sed '1,2d' >"$n.dumpxml-inactive"
    ;;
  invalid-*|define-conflict-*)
    # virsh's stderr for `virsh define FILE`, the file named as the user typed it.
    LC_ALL=C virsh -c "$URI" define "$f" >/dev/null 2>"$n.virsh-stderr" && { echo "$f was accepted" >&2; exit 1; }
    /usr/bin/python3 - "$URI" "$f" >"$n.error.json" <<'PY'
import json, sys, libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
conn = libvirt.open(sys.argv[1])
try:
    conn.defineXML(open(sys.argv[2]).read())
    sys.exit(sys.argv[2] + ' was accepted')
except libvirt.libvirtError as e:
    print(json.dumps({'code': e.get_error_code(), 'domain': e.get_error_domain(), 'str1': e.get_str1(), 'message': e.get_error_message()}, indent=2))
PY
    ;;
  *)
    # The domain's name is read back from what define printed ("Domain 'NAME' defined from FILE").
    out=$(LC_ALL=C virsh -c "$URI" "define $f; list --all --name")
    name=$(printf '%s\n' "$out" | sed -n "s/^Domain '\(.*\)' defined from .*/\1/p")
    uuid=$(grep -q '<uuid>' "$f" && echo keep || echo replace)
    LC_ALL=C virsh -c "$URI" "define $f; dumpxml '$name'" | sed '1,2d' >"$n.dumpxml"
    LC_ALL=C virsh -c "$URI" "define $f; dumpxml --inactive '$name'" | sed '1,2d' >"$n.dumpxml-inactive"
    if [ "$uuid" = replace ]; then
      sed -i 's|<uuid>[0-9a-f-]*</uuid>|<uuid><UUID></uuid>|' "$n.dumpxml" "$n.dumpxml-inactive"
    fi
    ;;
  esac
done
