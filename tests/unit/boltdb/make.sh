#!/bin/bash
# make.sh - writes the real etcd dbs test_boltdb.c reads (run from the repository
# root with etcd and etcdctl installed; the files are committed, so the unit tests
# need no etcd). One member, known writes:
#   rev 2..6   /p/a=1 /p/b=2 /p/c=3 /q/x=9 /p/a=1b      (a overwritten)
#   rev 7      del /p/b                                 (a tombstone)
#   rev 8      /p/d=4 on a lease
#   rev 9      /p/b=2b                                  (b again, new create revision)
#   rev 10     txn: /p/e=5 /p/f=6                       (one main revision, two subs)
# history.db: as it is; compacted.db: the same after a compaction at revision 9.
set -eu
out=tests/unit/boltdb
d=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$d"' EXIT
port=$((20000 + RANDOM % 20000))
etcd --data-dir "$d/data" --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
  --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
  --initial-cluster "default=http://127.0.0.1:$((port + 1))" >"$d/log" 2>&1 &
pid=$!
e() { ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$port" "$@"; }
for i in $(seq 50); do e endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
e put /p/a 1; e put /p/b 2; e put /p/c 3; e put /q/x 9; e put /p/a 1b
e del /p/b
lease=$(e lease grant 3600 | awk '{print $2}')
e put --lease="$lease" /p/d 4
e put /p/b 2b
printf '\nput /p/e 5\nput /p/f 6\n\n\n' | e txn
rm -f "$out/history.db" "$out/compacted.db"
e snapshot save "$out/history.db"
e compact 9
e snapshot save "$out/compacted.db"
e get --prefix / -w json | jq -c '.kvs[] | {k: (.key|@base64d), v: (.value|@base64d), c: .create_revision, m: .mod_revision, l: (.lease // 0)}'
