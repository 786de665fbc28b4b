"""Records `hcl1_fixture.json`: policy texts in HCL1's looser forms and errors, with a real
OpenBao's reading of each (its `sys/capabilities` answer for some paths, or its error).

Run against `bao server -dev -dev-root-token-id=root` (OpenBao 2.7):
    BAO_ADDR=http://127.0.0.1:8200 python3 record_hcl1_fixture.py > hcl1_fixture.json
"""

import json
import os
import urllib.error
import urllib.request

ADDR = os.environ.get("BAO_ADDR", "http://127.0.0.1:8200")

# (text, paths asked when OpenBao accepts it). Forms where mainkey knowingly refuses what
# OpenBao accepts (no label, several labels, parameter values that are not lists) are tested
# in tests.rs instead.
R = ["a"]
CASES = [
    # Several attributes on one line, commas, repeats.
    ('path "a" { capabilities = ["read"] max_wrapping_ttl = "1h" }', R),
    ('path "a" { policy = "read" capabilities = ["update"] }', R),
    ('path "a" { capabilities = ["update"] policy = "read" }', R),
    ('path "a" {\n capabilities = ["read"]\n capabilities = ["list"]\n}', R),
    ('path "a" { capabilities = ["read"] capabilities = ["list"] }', R),
    ('path "a" { capabilities = ["deny"] capabilities = ["read"] }', R),
    ('path "a" { policy = "read" policy = "deny" }', R),
    ('path "a" { policy = "deny" policy = "write" }', R),
    ('path "a" { policy = "" capabilities = ["read"] }', R),
    ('path "a" { capabilities = ["read"] }\npath "a" { capabilities = ["list"] }', R),
    ('path "a" { capabilities = ["read"], policy = "write" }', R),
    ('path "a" { capabilities = ["read"], }', R),
    ('path "a" { capabilities = ["read"] }, path "b" { capabilities = ["list"] }', ["a", "b"]),
    ('path "a" { capabilities = ["read", "list",] }', R),
    ('path "a" { capabilities = [,] }', R),
    ('path "a" { capabilities = ["read",,"list"] }', R),
    ('path "a" { capabilities = [,"read"] }', R),
    ('path "a" { capabilities = [] }', R),
    ('path "a" {}', R),
    ('path "a" {\n capabilities = ["update"]\n min_wrapping_ttl = "90m"\n'
     ' max_wrapping_ttl = "2h"\n max_wrapping_ttl = "1h"\n}', R),
    ('path "a" {\n capabilities = ["update"]\n min_wrapping_ttl = "90m"\n'
     ' max_wrapping_ttl = "1h"\n max_wrapping_ttl = "2h"\n}', R),
    # Quoted keys, bare labels, comments.
    ('path "a" { "capabilities" = ["read"] }', R),
    ('"path" "a" { capabilities = ["read"] }', R),
    ('path a { capabilities = ["read"] }', R),
    ('path _a1 { capabilities = ["read"] }', ["_a1"]),
    ('# hash\n// slashes\n/* block\n comment */ path "a" { /* in */ capabilities = ["read"] // end\n # x\n}', R),
    ('/* a /* b */ path "a" { capabilities = ["read"] }', R),
    ('path "a" { capabilities = [\n "read", # r\n // l\n "list" /* z */\n] }', R),
    ('path "a#b//c" { capabilities = ["read"] }', ["a#b//c"]),
    ("# only a comment\n", R),
    ("  \n\n ", R),
    ('name = "x"\npath "a" { capabilities = ["read"] }', R),
    ("name =", R),
    ('path "a" {\r capabilities = ["read"]\r}', R),
    # Heredocs.
    ('path "a" {\n capabilities = ["read"]\n comment = <<EOT\nhello\nEOT\n}', R),
    ('path "a" {\n capabilities = ["read"]\n comment = <<-EOT\n   hello\n   EOT\n}', R),
    ('path "a" {\n policy = <<EOT\nread\nEOT\n}', R),
    ('path "a" {\n policy = <<-EOT\n   read\n   EOT\n}', R),
    ('path "a" {\n policy = <<-EOT\n   read\n     x\n  EOT\n}', R),
    ('path "a" {\n policy = <<-EOT\n  read\n    x\n    EOT\n}', R),
    ('path "a" {\n policy = <<-EOT\n\tread\n\tEOT\n}', R),
    ('path "a" {\n policy = <<-EOT\n\t  read\n  EOT\n}', R),
    ('path "a" {\n policy = <<EOT\nread\n  EOT\n}', R),
    ('path "a" {\n policy = <<EOT\nEOT\n}', R),
    ('path "a" {\n policy = <<E1_x\nread\nE1_x\n}', R),
    ('path "a" {\r\n policy = <<EOT\r\nre\r\nad\r\nEOT\r\n}', R),
    ('path "a" {\r\n policy = <<-EOT\r\n  read\r\n  EOT\r\n}', R),
    ('path "a" {\n policy = <<EOT\nEOTx\nEOT\n}', R),
    ('path "a" {\n policy = <<-EOT\n   read\n\n   x\n   EOT\n}', R),
    ('path "a" {\n capabilities = [<<EOT\nread\nEOT\n]\n}', R),
    ('path "a" {\n capabilities = [<<EOT\nread\nEOT\n, "list"]\n}', R),
    # Parameter maps: block or attribute, commas, repeats.
    ('path "a" { capabilities = ["read"] allowed_parameters { x = [] } }', R),
    ('path "a" { capabilities = ["read"] allowed_parameters = { "x" = [] } }', R),
    ('path "a" { capabilities = ["update"] allowed_parameters = { "x" = [], "y" = [] } }', R),
    ('path "a" { "allowed_parameters" { x = [] } capabilities = ["read"] }', R),
    # Strings.
    ('path "a\\"b" { capabilities = ["read"] }', ['a"b', 'a\\"b']),
    ('path "\\u00e9" { capabilities = ["read"] }', ["\u00e9"]),
    ('path "a\\\\b" { capabilities = ["read"] }', ["a\\b"]),
    ('path "\\x41\\101\\U0001F600" { capabilities = ["read"] }', ["AA\U0001F600"]),
    ('path "a\\nb\\tc" { capabilities = ["read"] }', ["a\nb\tc"]),
    ('path "a/${x}" { capabilities = ["read"] }', ["a/${x}"]),
    ('path "a/$${x}" { capabilities = ["read"] }', ["a/$${x}", "a/${x}"]),
    ('path "a/${\n}" { capabilities = ["read"] }', ["a/${\n}"]),
    ('path "a\tb" { capabilities = ["read"] }', ["a\tb"]),
    # Numbers.
    ('path "a" {\n capabilities = ["update"]\n max_wrapping_ttl = 3600\n min_wrapping_ttl = 7200\n}', R),
    ('path "a" {\n capabilities = ["update"]\n max_wrapping_ttl = 0x10\n min_wrapping_ttl = 17\n}', R),
    ('path "a" {\n capabilities = ["update"]\n max_wrapping_ttl = 0x10\n min_wrapping_ttl = 16\n}', R),
    ('path "a" {\n capabilities = ["update"]\n max_wrapping_ttl = 010\n min_wrapping_ttl = 9\n}', R),
    ('path "a" {\n capabilities = ["update"]\n max_wrapping_ttl = 010\n min_wrapping_ttl = 8\n}', R),
    ('path "a" {\n capabilities = ["update"]\n max_wrapping_ttl = -5\n}', R),
    ('path "a" { capabilities = ["update"] max_wrapping_ttl = 1e3 min_wrapping_ttl = 1001 }', R),
    ('path "a" { capabilities = ["update"] max_wrapping_ttl = 1e3 min_wrapping_ttl = 999 }', R),
    ('path "a" { capabilities = ["update"] max_wrapping_ttl = 2.0 min_wrapping_ttl = 3 }', R),
    ('path "a" { capabilities = ["update"] max_wrapping_ttl = 99999999999999999999999 }', R),
    # Refused by both: wrong value types.
    ('path "a" { capabilities = "read" }', R),
    ('path "a" { capabilities = [["read"]] }', R),
    ('path "a" { capabilities = [true] }', R),
    ('path "a" { capabilities = ["read", 1] }', R),
    ('path = "a"', R),
    ('path "a" { capabilities = ["read"] allowed_parameters = [{ x = ["1"] }] }', R),
    ('foo = 1\npath "a" { capabilities = ["read"] }', R),
    ('path "a" {\n capabilities = ["read"]\n foo = 1\n}', R),
    ('p\u00e4th "a" { capabilities = ["read"] }', R),
    # Syntax errors, with OpenBao's line:column.
    ('path "a { capabilities = ["read"] }', R),
    ('path "a" {\n  capabilities = ["read]\n}', R),
    ('path "a\n"" { capabilities = ["read"] }', R),
    ('path "a\n" { capabilities = ["read"] }', R),
    ('path "a" {\n  capabilities = ["read"]\n', R),
    ('path "a" {\n  capabilities = ["read"]', R),
    ('path "a" {', R),
    ('path "a" {\n  capabilities = ["read"]\n}\n}', R),
    ('path "a" {\n  capabilities = ["read"\n}', R),
    ('path "a" {\n  capabilities ["read"]\n}', R),
    ('path "a" {\n capabilities\n}', R),
    ('path "a" {\n capabilities =\n}', R),
    ('path "a" { capabilities = }', R),
    ('path "a" { capabilities = , }', R),
    ('path "a" { capabilities = ] }', R),
    ('path "a" { capabilities = read }', R),
    ('path "a" { capabilities = concat(["read"]) }', R),
    ('path "a" { capabilities = [var.x] }', R),
    ('path "a" { capabilities = [read] }', R),
    ('path "a" { capabilities = [=] }', R),
    ('path "a" { capabilities = [}] }', R),
    ('path "a" { capabilities = [{} {}] }', R),
    ('path "a" { capabilities = ["read" "list"] }', R),
    ('path "a" { capabilities = ["read"\n"list"] }', R),
    ('path "a" { capabilities = [', R),
    ('path "a" { capabilities = ["read"', R),
    ('path "a" { capabilities = ["read",\n', R),
    ('path "a" = { capabilities = ["read"] }', R),
    ('path "a" { capabilities "x" = ["read"] }', R),
    ('path "a" { {} }', R),
    ('path "a" {} {}', R),
    ("= 1", R),
    ("[1]", R),
    ('"hello"', R),
    ("foo", R),
    ("path ", R),
    ('path "a"', R),
    ('path 1 { capabilities = ["read"] }', R),
    ('path true { capabilities = ["read"] }', R),
    ('path , { capabilities = ["read"] }', R),
    (', path "a" { capabilities = ["read"] }', R),
    ('path "a" { capabilities = ["read"],, }', R),
    ('path "a" { , capabilities = ["read"] }', R),
    ('path "a" { capabilities = ["read"] } extra', R),
    ('path "a" { capabilities = ["read"] } /* x', R),
    ('path "a" { capabilities = ["read"] } /', R),
    ('path "a" { capabilities = ["read"] } / x', R),
    ('path "a" { capabilities = ["read"] ; }', R),
    ('path "a" { capabilities = ["read"] ; @ }', R),
    ('path "a" {\n capabilities = ["read"]\n @\n}', R),
    ("@", R),
    ("\ufeffpath \"a\" { capabilities = [\"read\"] }", R),
    ('path "a" { capabilities = ["read"] }\u0000', R),
    ('path a-b.c_d:e/f { capabilities = ["read"] }', R),
    ('path "a" {\n capabilities = ["update"]\n max_wrapping_ttl = 1x\n}', R),
    ('path "a" {\n capabilities = ["update"]\n max_wrapping_ttl = +5\n}', R),
    ('path "a" { x = - }', R),
    ('path "a" { x = -a }', R),
    ('path "a" { x = . }', R),
    ('path "a\\qb" { capabilities = ["read"] }', R),
    ('path "a\\q\\z" { capabilities = ["read"] }', R),
    ('path "a\\q" { capabilities = read }', R),
    ('path "a" { capabilities = read }\nname = "\\q"', R),
    ('path "a\\q" { capabilities = ["read"] ; }', R),
    ('path "\\u00g9" { capabilities = ["read"] }', R),
    ('path "a\\$b" { capabilities = ["read"] }', R),
    ('path "a\\\'b" { capabilities = ["read"] }', R),
    ('path "a\\18" { capabilities = ["read"] }', R),
    ('path "a\\x4" { capabilities = ["read"] }', R),
    ('path "a\\', R),
    ('path "a" {\n comment = <<EOT\nread\n}', R),
    ('path "a" {\n comment = <<EOT read\nEOT\n}', R),
    ('path "a" {\n policy = <<EOT\nread\nEOT \n}', R),
    ('path "a" {\n policy = <<EOT\nread\nEOT', R),
    ('path "a" {\n policy = <<\nread\n\n}', R),
    ('path "a" {\n policy = <EOT\n}', R),
    ('path "a" {\n policy = <<E-T\nread\nE-T\n}', R),
    ('path <<EOT\na\nEOT\n{ capabilities = ["read"] }', R),
    ('path "a" { x = {', R),
    ('path "a" { capabilities =', R),
    ('path "a" { capabilities =\n', R),
]


def req(method, path, body=None, token="root"):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(ADDR + "/v1/" + path, data=data, method=method,
                               headers={"X-Vault-Token": token})
    try:
        with urllib.request.urlopen(r) as resp:
            text = resp.read()
            return resp.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, (json.loads(text) if text else None)


def main():
    out = []
    for i, (text, paths) in enumerate(CASES):
        status, body = req("PUT", f"sys/policies/acl/hcl1-{i}", {"policy": text})
        if status >= 300:
            out.append({"text": text, "error": body["errors"][0]})
            continue
        status, tok = req("POST", "auth/token/create",
                          {"policies": [f"hcl1-{i}"], "no_default_policy": True})
        token = tok["auth"]["client_token"]
        status, caps = req("POST", "sys/capabilities", {"token": token, "paths": paths})
        out.append({"text": text, "paths": [[p, caps["data"][p]] for p in paths]})
    print(json.dumps({"source": "OpenBao 2.7.2 (bao server -dev): sys/policies/acl, then "
                                "sys/capabilities with a token holding only that policy",
                      "cases": out}, indent=1, ensure_ascii=False))


main()
