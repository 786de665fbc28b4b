# What a multi-tenant deployment needs on its mainkey server, for
#
#   mainkey operator bootstrap -keys-file=keys.json config/bootstrap.example.hcl
#
# Run it again at any time: it compares and writes only what differs. Items on the server
# that this file does not name are left alone. No secret is written here: passwords and
# secret values come from environment variables (or files) named below.
# The same file in YAML: `secrets: { secret: { type: kv-v2 } }` and so on.

# Used only when the server is not initialised yet.
init {
  shares    = 5
  threshold = 3
}

audit "file" {
  type    = "file"
  options = { file_path = "/var/log/mainkey/audit.log" }
}

secrets "secret" {
  type        = "kv-v2"
  description = "tenant credentials"
}

auth "approle" {
  type        = "approle"
  description = "services"
}

auth "userpass" {
  type        = "userpass"
  description = "administrators"
}

# A tenant reads its own credentials only.
policy "tenant-acme" {
  rules = <<EOT
path "secret/data/tenant/acme/*" {
  capabilities = ["read"]
}
EOT
}

# `file = "policies/admin.hcl"` (relative to this file) works as well as `rules`.
policy "admin" {
  rules = <<EOT
path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}
path "sys/policies/acl/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
EOT
}

# The role's fields go to auth/approle/role/billing as they are.
approle_role "billing" {
  token_policies = ["tenant-acme"]
  token_ttl      = "1h"
  token_max_ttl  = "4h"
  secret_id_ttl  = "24h"
}

# The password is set when the user is created; later runs keep it unless -reset-passwords.
userpass_user "admin" {
  policies     = ["admin"]
  password_env = "ADMIN_PASSWORD"
}

entity "acme" {
  policies = ["tenant-acme"]
  metadata = { tenant_id = "acme" }
}

# The whole secret: plain values in `data`, secret ones from the environment (`data_env`)
# or a .env file (`data_file`).
kv "secret/tenant/acme/smtp" {
  data     = { host = "smtp.example.com", port = "587", user = "acme" }
  data_env = { password = "ACME_SMTP_PASSWORD" }
}
