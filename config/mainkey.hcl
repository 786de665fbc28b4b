# mainkey server configuration (HCL; a .json file with the same keys works too).
#
#   mainkey server -config=config/mainkey.hcl
#
# Keys are the ones Vault/OpenBao use, so an existing Vault config needs little change.
# Keys that Vault knows but that mean nothing to mainkey (cluster_addr, log_level, telemetry,
# ...) are accepted and ignored. Keys that would change how secrets are protected (seal,
# ha_storage, audit, client-certificate options) are refused with an error, never ignored.

# Where the data lives. `path` is the redb database file itself (not a directory); mainkey
# creates it with mode 0600. Every value in it is encrypted by the barrier.
# For throw-away tests, `storage "inmem" {}` keeps everything in memory instead.
storage "redb" {
  path = "/var/lib/mainkey/mainkey.redb"
}

# One or more listeners; each `listener "tcp"` block opens one address.
listener "tcp" {
  # host:port to listen on. Default 127.0.0.1:8200. ":8200" means every interface.
  address = "127.0.0.1:8200"

  # TLS is on unless tls_disable is true, and then both files are required (PEM).
  # Booleans may be written true/false, 1/0, or quoted.
  tls_disable   = false
  tls_cert_file = "/etc/mainkey/tls/server.crt"
  tls_key_file  = "/etc/mainkey/tls/server.key"

  # For local testing only, plain HTTP instead of the three lines above:
  # tls_disable = true

  # Largest request body in bytes; bigger requests get 413.
  # Unset or 0 means 32 MiB (Vault's default); a negative value turns the limit off.
  max_request_size = 33554432

  # The whole request head must arrive within this time, or the connection is closed
  # (Vault's default 10s); kept-alive connections close after http_idle_timeout (5m).
  http_read_header_timeout = "10s"
  http_idle_timeout        = "5m"

  # Open connections this listener accepts at once; more are closed unanswered.
  max_connections = 1024

  # JSON bodies are checked while they are read, before anything is built from them; a body
  # past any limit gets 400 "high complexity". Vault's names and defaults; a negative value
  # turns one off.
  max_json_depth                = 300
  max_json_string_value_length  = 1048576
  max_json_object_entry_count   = 10000
  max_json_array_element_count  = 10000
}

# A second listener, e.g. plain HTTP on loopback for a local agent, could sit beside it:
# listener "tcp" {
#   address     = "127.0.0.1:8300"
#   tls_disable = true
# }

# The address clients should use to reach this server (advertised to clients and in
# redirects). Optional.
api_addr = "https://127.0.0.1:8200"

# Lease TTLs for tokens and secrets that do not set their own. Durations take Vault's forms:
# "768h", "30s", "1h30m", "10m", "2d", or a number of seconds (3600 or "3600").
# Both default to 768h (32 days); default_lease_ttl may not be longer than max_lease_ttl.
default_lease_ttl = "768h"
max_lease_ttl     = "768h"

# Login lockout, as Vault's: after lockout_threshold failed logins a user (userpass) or a
# role-id (approle) is locked for lockout_duration; the count of failures resets after
# lockout_counter_reset. "all" applies to both methods; a block for one method, and then a
# mount's user_lockout_config (sys/auth/<path>/tune), override it.
user_lockout "all" {
  lockout_threshold     = 5
  lockout_duration      = "15m"
  lockout_counter_reset = "15m"
  disable_lockout       = false
}

# ui = true serves the web UI at /ui/ on the API listeners (README, "Web UI").
# disable_mlock is accepted for compatibility with Vault configs; mainkey keeps its keys
# zeroized in memory, so it changes nothing.
ui            = false
disable_mlock = true
