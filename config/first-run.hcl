# A first-run server for trying mainkey on one machine: plain HTTP on loopback, data in
# ./mainkey-data/ (created 0700 on first start). For a real deployment start from
# config/mainkey.hcl instead: TLS, a fixed storage path, lockout settings.
#
#   mainkey server -config=config/first-run.hcl
#   export VAULT_ADDR=http://127.0.0.1:8200

storage "redb" {
  path = "mainkey-data/mainkey.redb"
}

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}
