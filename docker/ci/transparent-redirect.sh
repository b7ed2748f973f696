#!/usr/bin/env bash
# scopegate in transparent mode on a self-hosted CI runner.
#
# Jobs need no HTTPS_PROXY: the kernel sends every outbound TCP 443 connection of every user but
# scopegate's own to scopegate's --transparent listener, which reads the host name from the TLS
# ClientHello (SNI), judges guarded hosts and tunnels or refuses the rest by the policy's egress
# list. scopegate's own user is exempt (-m owner ! --uid-owner), or its upstream connections would
# loop back into it. Everyone else is redirected, not only the runner user, so `sudo curl …` in a
# job does not step around it.
#
# It is a boundary only if the job cannot undo it: the runner user must have no sudo (or it can
# flush these rules) and no access to the Docker socket (containers' traffic is forwarded, not
# locally generated, so these OUTPUT rules do not see it).
#
# One-time set-up, as root:
#   useradd --system --home-dir /var/lib/scopegate --create-home --shell /usr/sbin/nologin scopegate
#   git clone … /opt/scopegate && (cd /opt/scopegate && npm ci)      # builds dist/
#   install -d -o scopegate -g scopegate -m 0700 /var/lib/scopegate/ca /var/lib/scopegate/data
#   sudo -u scopegate node /opt/scopegate/dist/cli.js ca init --ca-dir /var/lib/scopegate/ca
#   ./transparent-redirect.sh trust         # the runner's jobs trust the CA (cert only, never the key)
#   ./transparent-redirect.sh start &       # or put start-command's output in a systemd unit
#   ./transparent-redirect.sh up            # iptables (default) or: up nft
#   ./transparent-redirect.sh down          # removes the rules again (down nft for nftables)
#
# The policy's egress list must also allow what the runner itself talks to (github.com,
# *.actions.githubusercontent.com, *.blob.core.windows.net, …: GitHub's "communication
# requirements" for self-hosted runners); policies/strict.yaml allows github.com,
# *.github.com, *.githubusercontent.com and the npm registry only.
#
# DRY_RUN=1 prints the commands instead of running them; `rules nft` prints the nftables ruleset.
set -euo pipefail

SCOPEGATE_USER=${SCOPEGATE_USER:-scopegate}
SCOPEGATE_HOME=${SCOPEGATE_HOME:-/opt/scopegate}
SCOPEGATE_STATE=${SCOPEGATE_STATE:-/var/lib/scopegate}
SCOPEGATE_POLICY=${SCOPEGATE_POLICY:-$SCOPEGATE_HOME/policies/strict.yaml}
TRANSPARENT_PORT=${TRANSPARENT_PORT:-8443}
RUNNER_DIR=${RUNNER_DIR:-/home/runner/actions-runner}   # the runner's install folder (its .env)
DRY_RUN=${DRY_RUN:-}

# REDIRECT of locally generated packets goes to 127.0.0.1, so that is where the listener must be.
START_COMMAND=(
  sudo -u "$SCOPEGATE_USER" --
  node "$SCOPEGATE_HOME/dist/cli.js" start
  --policy "$SCOPEGATE_POLICY"
  --transparent "127.0.0.1:$TRANSPARENT_PORT"
  --listen 127.0.0.1:8080
  --admin 127.0.0.1:8081
  --ca-dir "$SCOPEGATE_STATE/ca"
  --data-dir "$SCOPEGATE_STATE/data"
)

run() {
  if [ -n "$DRY_RUN" ]; then printf '%s\n' "$*"; else "$@"; fi
}

sg_uid() {
  if [ -n "${SCOPEGATE_UID:-}" ]; then echo "$SCOPEGATE_UID"; return; fi
  id -u "$SCOPEGATE_USER" 2>/dev/null || { echo "no user \"$SCOPEGATE_USER\"; create it first (see the top of $0)" >&2; exit 1; }
}

# (re)create an empty chain
fresh_chain() { # CMD TABLE CHAIN
  if [ -z "$DRY_RUN" ] && "$1" -w -t "$2" -n -L "$3" >/dev/null 2>&1; then
    run "$1" -w -t "$2" -F "$3"
  else
    run "$1" -w -t "$2" -N "$3"
  fi
}

# append a rule unless it is there already
ensure_rule() { # CMD TABLE CHAIN RULE…
  local cmd=$1 table=$2 chain=$3
  shift 3
  if [ -z "$DRY_RUN" ] && "$cmd" -w -t "$table" -C "$chain" "$@" 2>/dev/null; then return 0; fi
  run "$cmd" -w -t "$table" -A "$chain" "$@"
}

iptables_up() {
  local uid
  uid=$(sg_uid)
  # IPv4 TCP 443 of every user but scopegate -> 127.0.0.1:$TRANSPARENT_PORT
  fresh_chain iptables nat SCOPEGATE
  run iptables -w -t nat -A SCOPEGATE -d 127.0.0.0/8 -j RETURN
  run iptables -w -t nat -A SCOPEGATE -p tcp -j REDIRECT --to-ports "$TRANSPARENT_PORT"
  ensure_rule iptables nat OUTPUT -p tcp --dport 443 -m owner ! --uid-owner "$uid" -j SCOPEGATE
  # what would pass beside it: QUIC (UDP 443) on both families, and IPv6 TCP 443 (the listener
  # is IPv4). Refused, so clients fall back to IPv4 TCP, which is redirected.
  local ipt
  for ipt in iptables ip6tables; do
    fresh_chain "$ipt" filter SCOPEGATE
    run "$ipt" -w -t filter -A SCOPEGATE -p udp --dport 443 -j REJECT
    ensure_rule "$ipt" filter OUTPUT -m owner ! --uid-owner "$uid" -j SCOPEGATE
  done
  run ip6tables -w -t filter -A SCOPEGATE -p tcp --dport 443 -j REJECT --reject-with tcp-reset
}

iptables_down() {
  local uid
  uid=$(sg_uid)
  while run iptables -w -t nat -D OUTPUT -p tcp --dport 443 -m owner ! --uid-owner "$uid" -j SCOPEGATE 2>/dev/null; do
    [ -z "$DRY_RUN" ] || break
  done
  run iptables -w -t nat -F SCOPEGATE 2>/dev/null || true
  run iptables -w -t nat -X SCOPEGATE 2>/dev/null || true
  local ipt
  for ipt in iptables ip6tables; do
    while run "$ipt" -w -t filter -D OUTPUT -m owner ! --uid-owner "$uid" -j SCOPEGATE 2>/dev/null; do
      [ -z "$DRY_RUN" ] || break
    done
    run "$ipt" -w -t filter -F SCOPEGATE 2>/dev/null || true
    run "$ipt" -w -t filter -X SCOPEGATE 2>/dev/null || true
  done
}

nft_rules() {
  local uid
  uid=$(sg_uid)
  cat <<EOF
table inet scopegate {
  chain to_scopegate {
    type nat hook output priority -100; policy accept;
    meta skuid != $uid ip daddr != 127.0.0.0/8 tcp dport 443 redirect to :$TRANSPARENT_PORT
  }
  chain refuse_bypass {
    type filter hook output priority 0; policy accept;
    meta skuid $uid accept
    udp dport 443 reject
    meta nfproto ipv6 tcp dport 443 reject with tcp reset
  }
}
EOF
}

nft_up() {
  nft_down
  if [ -n "$DRY_RUN" ]; then
    echo "nft -f - <<'EOF'"
    nft_rules
    echo "EOF"
  else
    nft_rules | nft -f -
  fi
}

nft_down() {
  if [ -n "$DRY_RUN" ]; then
    echo "nft delete table inet scopegate"
  else
    nft delete table inet scopegate 2>/dev/null || true
  fi
}

trust() {
  # the certificate only: ca-key.pem stays in $SCOPEGATE_STATE/ca (mode 0700, scopegate's)
  run install -m 0644 "$SCOPEGATE_STATE/ca/ca.pem" /usr/local/share/ca-certificates/scopegate.crt
  run update-ca-certificates
  # the runner passes RUNNER_DIR/.env to every job: for clients that do not read the system store
  local line
  for line in NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/scopegate.crt \
              REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
              AWS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$DRY_RUN" ]; then
      echo "echo $line >> $RUNNER_DIR/.env"
    elif ! grep -qxF "$line" "$RUNNER_DIR/.env" 2>/dev/null; then
      echo "$line" >>"$RUNNER_DIR/.env"
    fi
  done
  echo "restart the runner service (./svc.sh stop && ./svc.sh start in $RUNNER_DIR) to load .env" >&2
}

usage() {
  echo "usage: $0 start|start-command|up [iptables|nft]|down [iptables|nft]|rules nft|trust" >&2
  exit 2
}

case "${1:-}" in
  start-command) printf '%q ' "${START_COMMAND[@]}"; echo ;;
  start) if [ -n "$DRY_RUN" ]; then run "${START_COMMAND[@]}"; else exec "${START_COMMAND[@]}"; fi ;;
  up)
    case "${2:-iptables}" in iptables) iptables_up ;; nft) nft_up ;; *) usage ;; esac ;;
  down)
    case "${2:-iptables}" in iptables) iptables_down ;; nft) nft_down ;; *) usage ;; esac ;;
  rules)
    [ "${2:-}" = nft ] || usage
    nft_rules ;;
  trust) trust ;;
  *) usage ;;
esac
