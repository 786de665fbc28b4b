# mainkey server config for the container image (deploy/Dockerfile copies it to
# /etc/mainkey/mainkey.hcl) and for deploy/compose.yaml. Annotated reference of every key:
# config/mainkey.hcl and config/gateway.hcl.
#
# tests/integration/test_deploy_files.py starts the real binary on this file (with the
# storage path and port rewritten) and checks that it answers sys/seal-status.

# The database file, in the image's volume (/var/lib/mainkey, owned by the mainkey user,
# mode 0700). mainkey creates the file 0600; every value in it is encrypted by the barrier.
storage "redb" {
  path = "/var/lib/mainkey/mainkey.redb"
}

# Plain HTTP on every interface of the container: the container network is the boundary,
# and Traefik (or another proxy on that network) is the only way in from outside. Publish
# the port on the host's loopback only (compose.yaml does). For TLS, mount a certificate and
# key and set tls_disable = false, tls_cert_file and tls_key_file (see config/mainkey.hcl).
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

api_addr = "http://mainkey:8200"

gateway {
  forward_auth_path = "/forward-auth"

  # Only these peers may call /forward-auth, and only their X-Forwarded-* headers are
  # believed. compose.yaml gives Traefik this fixed address on its network; change both
  # together. Loopback stays trusted for a proxy in the same network namespace.
  trusted_proxies = ["172.30.53.10/32", "127.0.0.0/8"]
}

# The example upstream of compose.yaml (traefik/whoami, which echoes the request it gets):
# any live mainkey token passes, and whoami sees the caller's identity in X-Mainkey-* but
# never the token. To hand it a credential instead, add a `require` and an `inject_header`
# block (config/gateway.hcl) and list the header in the middleware's authResponseHeaders.
route "whoami" {
  hosts       = ["whoami.localhost"]
  path_prefix = "/"
}
