# mainkey server configuration with the edge gateway (HCL; a .json file with the same keys
# works too: "gateway": {...}, "route": {"<name>": {...}}).
#
#   mainkey server -config=config/gateway.hcl
#
# Two ways to put mainkey in front of a service:
#
# * forward-auth: a reverse proxy (Traefik forwardAuth, Caddy forward_auth, nginx
#   auth_request) asks mainkey about each request on `forward_auth_path`, served on every API
#   listener. mainkey answers 2xx with the headers to add (the injected credentials) or
#   401/403/429, and the proxy forwards or refuses.
# * proxy mode: mainkey itself listens on a `listener "tcp"` inside the gateway block and
#   forwards the requests that match a route to that route's `upstream`.
#
# The example models a multi-tenant SaaS whose secrets live under
# secret/tenant/<tenant_id>/{nexa,shopify}: a tenant API that gets each tenant's Shopify
# token injected, and a Nexa inference API limited per tenant.
#
# SIGHUP re-reads this file and swaps the routes; listeners stay as they were started.

storage "redb" {
  path = "/var/lib/mainkey/mainkey.redb"
}

# The API listener (/v1/..., and forward_auth_path below). Plain HTTP on loopback here, for a
# reverse proxy on the same host; see config/mainkey.hcl for TLS.
listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}

api_addr = "http://127.0.0.1:8200"

gateway {
  # The forward-auth endpoint; any method. Must start with "/" and must not be under /v1/ or
  # /ui/. Default "/forward-auth".
  forward_auth_path = "/forward-auth"

  # Only these peers may call forward_auth_path, and only their X-Forwarded-* headers are
  # believed; anyone else gets 403. CIDR ranges or bare addresses. Default: loopback only,
  # as here.
  trusted_proxies = ["127.0.0.0/8", "::1/128"]

  # Proxy mode: any number of listeners, with the same keys as the API listener (TLS too).
  # Each needs its own address. Leave them out for forward-auth only.
  listener "tcp" {
    address     = "127.0.0.1:8300"
    tls_disable = true
  }
}

# A route: which requests it covers (hosts, path_prefix, methods), who may pass (require),
# what they get (inject_header) and how often (rate_limit). The longest matching path_prefix
# wins, then file order. Route names must be unique: letters, digits, '-', '_', '.'.
route "tenant-api" {
  # Exact host names, compared without the port; leave out for any host.
  hosts = ["api.smarterbot.store"]

  # Required. Requests look like /t/<tenant_id>/orders.
  path_prefix = "/t/"

  # Leave out for any method.
  methods = ["GET", "POST", "PUT", "DELETE"]

  # Proxy mode only: where matching requests go. http:// or https://, host[:port], nothing
  # after it. Routes without one are answered by forward-auth only.
  upstream = "http://127.0.0.1:9000"

  # Where the tenant comes from: path.segment.<n> (segments count from 0, so in
  # /t/rut-76832940-3/orders segment 1 is rut-76832940-3), host.label.<n>,
  # entity.metadata.<key> (the caller's entity) or jwt.claim.<name> (needs jwt_auth).
  # It fills {{tenant}} in the paths below; a tenant holding "/", "..", "*" and the like is
  # refused with 403.
  tenant = "path.segment.1"

  # The caller's token must grant this capability on this path (read, list, create, update,
  # delete or patch). So a tenant's token, whose policy covers only its own
  # secret/data/tenant/<id>/..., cannot use another tenant's segment in the path.
  require {
    capability = "read"
    path       = "secret/data/tenant/{{tenant}}/shopify"
  }

  # The value of `field` in the KV secret at `path`, read as the caller, is sent upstream in
  # this header. Any number of blocks; hop-by-hop headers, Host, Content-Length,
  # Authorization, X-Vault-Token and X-Mainkey-* cannot be injected, and each header at most
  # once per route (names are case-insensitive).
  inject_header "X-Shopify-Access-Token" {
    path  = "secret/data/tenant/{{tenant}}/shopify"
    field = "SHOPIFY_ACCESS_TOKEN"
  }

  inject_header "X-Shopify-Shop-Domain" {
    path  = "secret/data/tenant/{{tenant}}/shopify"
    field = "SHOPIFY_SHOP_DOMAIN"
  }
}

route "nexa" {
  hosts       = ["nexa.smarterbot.store"]
  path_prefix = "/v1/chat/"
  methods     = ["POST"]
  upstream    = "http://127.0.0.1:9100"

  # The tenant is the caller's entity's tenant_id metadata, as in the templated policy
  # secret/data/tenant/{{identity.entity.metadata.tenant_id}}/*.
  tenant = "entity.metadata.tenant_id"

  # Bearer JWTs that this JWT auth role accepts are taken too, besides mainkey tokens.
  jwt_auth {
    mount = "jwt"
    role  = "nexa-gateway"
  }

  require {
    capability = "read"
    path       = "secret/data/tenant/{{tenant}}/nexa"
  }

  # Requests per minute, per tenant (or per = "token"). The limit is each tenant's own
  # TENANT_HARD_LIMIT_RPM, read from its nexa secret; a fixed `rpm = 120` works instead.
  # Over the limit the answer is 429. burst (optional, at least 1) is how many requests may
  # come at once; it defaults to the rpm. rpm and burst are at most 1000000.
  rate_limit {
    per = "tenant"
    rpm_from {
      path  = "secret/data/tenant/{{tenant}}/nexa"
      field = "TENANT_HARD_LIMIT_RPM"
    }
    burst = 20
  }
}

route "health" {
  # No tenant, no require: any live token passes. A fixed limit per token.
  path_prefix = "/healthz"
  methods     = ["GET"]
  upstream    = "http://127.0.0.1:9000"
  rate_limit {
    per = "token"
    rpm = 60
  }
}
