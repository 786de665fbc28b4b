#!/bin/sh
# One-shot bootstrap of a mainkey server: initialise it if it is new, then unseal it.
# Runs in the mainkey image (compose.yaml's `bootstrap` service, the Kubernetes Job).
#
#   VAULT_ADDR   the server (default http://mainkey:8200)
#   KEYS_FILE    where the init output goes, created 0600; it holds every unseal key share
#                and the root token (default /var/lib/mainkey-bootstrap/init.json)
#   KEY_SHARES, KEY_THRESHOLD   default 5 and 3
#
# A second run finds the server initialised and only unseals it from KEYS_FILE, so it is
# safe to run after every restart. It prints no key and no token.
#
# This keeps all the shares next to each other, which is fine for a demo or a first start,
# not for production: there, hand the shares to different people, delete KEYS_FILE, and
# unseal by hand (`mainkey operator unseal`) or with auto-unseal. `mainkey operator
# bootstrap` (declarative mounts, policies and secrets) will replace this script.
set -eu

: "${VAULT_ADDR:=http://mainkey:8200}"
: "${KEYS_FILE:=/var/lib/mainkey-bootstrap/init.json}"
: "${KEY_SHARES:=5}"
: "${KEY_THRESHOLD:=3}"
export VAULT_ADDR

log() { echo "bootstrap: $*" >&2; }

# Wait until the server answers (status: 0 unsealed, 2 sealed, 1 no answer).
tries=0
while :; do
  rc=0
  mainkey status >/dev/null 2>&1 || rc=$?
  [ "$rc" -ne 1 ] && break
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    log "no answer from $VAULT_ADDR after 60 s"
    exit 1
  fi
  sleep 1
done

# The keys never pass through a pipe or a file readable by others: umask 077 makes the file
# 0600, and it is written in place only once the init succeeded.
umask 077
rc=0
mainkey operator init -status >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 2 ]; then
  if [ -e "$KEYS_FILE" ]; then
    log "$KEYS_FILE exists but $VAULT_ADDR is not initialised: refusing to overwrite it"
    exit 1
  fi
  log "initialising $VAULT_ADDR with $KEY_SHARES shares, threshold $KEY_THRESHOLD"
  mainkey operator init -format=json \
    -key-shares="$KEY_SHARES" -key-threshold="$KEY_THRESHOLD" > "$KEYS_FILE.tmp"
  chmod 0600 "$KEYS_FILE.tmp"
  mv "$KEYS_FILE.tmp" "$KEYS_FILE"
  log "unseal keys and root token written to $KEYS_FILE (mode 0600)"
elif [ "$rc" -ne 0 ]; then
  log "cannot read the initialisation status of $VAULT_ADDR"
  exit 1
fi

rc=0
mainkey status >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
  log "already unsealed"
  exit 0
fi
if [ ! -r "$KEYS_FILE" ]; then
  log "sealed, and no $KEYS_FILE to unseal it from: unseal by hand"
  exit 1
fi

# The base64 shares, one a line, from the "unseal_keys_b64" array of the init output
# (mainkey writes one value per line).
keys=$(sed -n '/"unseal_keys_b64"/,/\]/s/^ *"\([A-Za-z0-9+\/=]*\)",\{0,1\}$/\1/p' "$KEYS_FILE")
for key in $keys; do
  # The share goes on standard input, so it is not in the process list.
  rc=0
  printf '%s\n' "$key" | mainkey operator unseal >/dev/null 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "an unseal key was refused"
    exit 1
  fi
  rc=0
  mainkey status >/dev/null 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    log "unsealed"
    exit 0
  fi
done
log "still sealed after every key in $KEYS_FILE"
exit 1
