# netns-lib.sh - hosts in network namespaces for the tests across hosts: N host
# namespaces, each with one veth link into a bridge that lives in a namespace of
# its own. Every address is inside a namespace made here; nothing in the machine's
# own namespace gets a link or an address. netns_teardown removes it all (the
# harness calls teardown_file at exit, also when a test failed).
#
#   netns_setup N            NS_BR (bridge namespace), NS_1..NS_N, HOST_IP_1..N (10.201.0.i)
#   netns_add NAME OCTET     one more namespace on the bridge (10.201.0.OCTET), e.g. for S3
#   on_host I CMD...         run CMD in host I's namespace
#   netns_cut I / netns_mend I   take host I's link down / up (in the bridge namespace)
#   netns_teardown           kill what runs in the namespaces, delete them

NETNS_PREFIX=${NETNS_PREFIX:-rvt$$}
NETNS_SUBNET=${NETNS_SUBNET:-10.201.0}

netns_available() {
  [ "$(id -u)" = 0 ] || return 1
  ip netns add "${NETNS_PREFIX}probe" 2>/dev/null || return 1
  ip netns del "${NETNS_PREFIX}probe"
}

netns_setup() {
  local n=$1 i
  NS_BR=${NETNS_PREFIX}br
  echo "$NS_BR" >>"$T_FILE_DIR/.netns"
  ip netns add "$NS_BR"
  ip -n "$NS_BR" link set lo up
  ip -n "$NS_BR" link add br0 type bridge
  ip -n "$NS_BR" link set br0 up
  for i in $(seq 1 "$n"); do
    local ns=${NETNS_PREFIX}h$i
    echo "$ns" >>"$T_FILE_DIR/.netns"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # made in the bridge namespace, its peer moved straight into the host's
    ip -n "$NS_BR" link add "port$i" type veth peer name eth0 netns "$ns"
    ip -n "$NS_BR" link set "port$i" master br0
    ip -n "$NS_BR" link set "port$i" up
    ip -n "$ns" addr add "$NETNS_SUBNET.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    eval "NS_$i=$ns HOST_IP_$i=$NETNS_SUBNET.$i"
  done
}

# netns_add NAME OCTET: one more namespace ${NETNS_PREFIX}NAME on the bridge, with
# address $NETNS_SUBNET.OCTET (a service the hosts reach only over the test network,
# e.g. the S3 server); its name in NS_NAME. Removed by netns_teardown like the hosts.
netns_add() {
  local name=$1 octet=$2 ns=${NETNS_PREFIX}$1
  echo "$ns" >>"$T_FILE_DIR/.netns"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$NS_BR" link add "port$name" type veth peer name eth0 netns "$ns"
  ip -n "$NS_BR" link set "port$name" master br0
  ip -n "$NS_BR" link set "port$name" up
  ip -n "$ns" addr add "$NETNS_SUBNET.$octet/24" dev eth0
  ip -n "$ns" link set eth0 up
  eval "NS_$name=$ns"
}

on_host() { local i=$1; shift; ip netns exec "${NETNS_PREFIX}h$i" "$@"; }
netns_cut() { ip -n "${NETNS_PREFIX}br" link set "port$1" down; }
netns_mend() { ip -n "${NETNS_PREFIX}br" link set "port$1" up; }

netns_teardown() {
  local ns pid
  [ -f "$T_FILE_DIR/.netns" ] || return 0
  while read -r ns; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done <"$T_FILE_DIR/.netns"
  sleep 0.2
  while read -r ns; do ip netns del "$ns" 2>/dev/null; done <"$T_FILE_DIR/.netns"
  rm -f "$T_FILE_DIR/.netns"
}

# make_certs DIR N: a CA (ca.pem), host certificates hI.pem/hI.key for I in 1..N with
# the host's address as subject alternative name (server and client use), and a
# certificate from another CA for host 1's address (other.pem/other.key).
make_certs() {
  local dir=$1 n=$2 i
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    for ca in ca otherca; do
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $ca.key -out $ca.pem \
        -days 2 -subj "/CN=regvault test $ca" 2>/dev/null || exit 1
    done
    sign() { # sign NAME IP CA
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" \
        -subj "/CN=$1" 2>/dev/null &&
      printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" >"$1.ext" &&
      openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" -days 2 \
        -extfile "$1.ext" 2>/dev/null
    }
    for i in $(seq 1 "$n"); do sign "h$i" "$NETNS_SUBNET.$i" ca || exit 1; done
    for i in $(seq 1 "$n"); do sign "other$i" "$NETNS_SUBNET.$i" otherca || exit 1; done
    chmod 600 ./*.key
  )
}
