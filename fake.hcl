storage "inmem" {}
listener "tcp" {
 address = ""
 tls_disable = true
}
