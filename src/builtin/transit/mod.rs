//! The `transit` secrets engine: encryption as a service, with Vault's paths and wire format.
//! Keys never leave the server; clients send plaintext (base64) and get `vault:v<N>:...`
//! ciphertexts back, or ask for data keys to encrypt large data themselves.
//!
//! Served: `keys/` (LIST), `keys/<name>` (create, read, delete), `keys/<name>/config`,
//! `keys/<name>/rotate`, `encrypt/<name>` (creating the key on first use, as Vault does, so
//! it has an existence check), `decrypt/<name>`, `rewrap/<name>`,
//! `datakey/plaintext|wrapped/<name>`, each with `batch_input` where Vault has it.
//! Key type: `aes256-gcm96`, Vault's default; other types and derived keys are refused by
//! name rather than served half-way.

mod key;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::builtin::auth::input;
use crate::clock::SharedClock;
use crate::logical::{Backend, Error, Map, Operation, Request, Response, Storage};
use key::{Key, AES256_GCM96};

/// Where a key is kept in the mount's storage.
const KEY_PREFIX: &str = "policy/";

pub struct Transit {
    clock: SharedClock,
    /// Serialises the read-modify-write of keys (create, rotate, config, delete), so two
    /// rotations never both become version N.
    writes: tokio::sync::Mutex<()>,
}

impl Transit {
    pub fn new(clock: SharedClock) -> Self {
        Transit {
            clock,
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// Unix seconds, as Vault reports when a version was made.
    fn now(&self) -> i64 {
        self.clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// What a request path names.
enum Route<'a> {
    KeyList,
    Key(&'a str),
    Config(&'a str),
    Rotate(&'a str),
    Encrypt(&'a str),
    Decrypt(&'a str),
    Rewrap(&'a str),
    DataKey { plaintext: bool, name: &'a str },
}

/// Vault's key name pattern: word characters, with `-`, `.` and `@` inside.
fn valid_name(name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().last()) else {
        return false;
    };
    word(first) && word(last) && name.chars().all(|c| word(c) || "-.@".contains(c))
}

fn named<'a>(route: Route<'a>, name: &str) -> Option<Route<'a>> {
    valid_name(name).then_some(route)
}

fn route(path: &str) -> Option<Route<'_>> {
    if path == "keys" || path == "keys/" {
        return Some(Route::KeyList);
    }
    if let Some(rest) = path.strip_prefix("keys/") {
        if let Some(name) = rest.strip_suffix("/config") {
            return named(Route::Config(name), name);
        }
        if let Some(name) = rest.strip_suffix("/rotate") {
            return named(Route::Rotate(name), name);
        }
        return named(Route::Key(rest), rest);
    }
    if let Some(name) = path.strip_prefix("encrypt/") {
        return named(Route::Encrypt(name), name);
    }
    if let Some(name) = path.strip_prefix("decrypt/") {
        return named(Route::Decrypt(name), name);
    }
    if let Some(name) = path.strip_prefix("rewrap/") {
        return named(Route::Rewrap(name), name);
    }
    let rest = path.strip_prefix("datakey/")?;
    let (kind, name) = rest.split_once('/')?;
    let plaintext = match kind {
        "plaintext" => true,
        "wrapped" => false,
        _ => return None,
    };
    named(Route::DataKey { plaintext, name }, name)
}

async fn load(storage: &dyn Storage, name: &str) -> Result<Option<Key>, Error> {
    let Some(bytes) = storage.get(&format!("{KEY_PREFIX}{name}")).await? else {
        return Ok(None);
    };
    let bytes = Zeroizing::new(bytes);
    Key::decode(&bytes).map(Some)
}

async fn store(storage: &dyn Storage, key: &Key) -> Result<(), Error> {
    let bytes = key.encode()?;
    storage
        .put(&format!("{KEY_PREFIX}{}", key.name), bytes.to_vec())
        .await
}

/// A key that must exist for the operation (decrypt, rewrap, datakey), as Vault words it.
async fn existing(storage: &dyn Storage, name: &str) -> Result<Key, Error> {
    load(storage, name)
        .await?
        .ok_or_else(|| Error::bad_request("encryption key not found"))
}

/// The key type a create names: only Vault's default is served.
fn key_type(data: &Map) -> Result<(), Error> {
    match input::string(data, "type")?.as_deref() {
        None | Some("") | Some(AES256_GCM96) => {}
        Some(other) => {
            return Err(Error::bad_request(format!(
                "unsupported key type {other:?}: mainkey's transit engine serves aes256-gcm96"
            )))
        }
    }
    for flag in ["derived", "convergent_encryption"] {
        if input::boolean(data, flag)? == Some(true) {
            return Err(Error::bad_request(format!(
                "{flag} keys are not supported by mainkey's transit engine"
            )));
        }
    }
    Ok(())
}

fn key_version(item: &Map) -> Result<u32, Error> {
    match input::int(item, "key_version")? {
        None => Ok(0),
        Some(v) => u32::try_from(v).map_err(|_| Error::bad_request("invalid key version")),
    }
}

/// A context is only meaningful for derived keys, which are not served: refused rather
/// than ignored, so that a caller relying on it learns at once.
fn refuse_context(item: &Map) -> Result<(), Error> {
    match input::string(item, "context")?.as_deref() {
        None | Some("") => Ok(()),
        Some(_) => Err(Error::bad_request(
            "key context is only used with derived keys, which mainkey's transit engine does not serve",
        )),
    }
}

/// The items of a request, borrowed (they hold plaintexts): its `batch_input`, or the
/// request itself as one item. `true` for a batch.
fn items(data: &Map) -> Result<(bool, Vec<&Map>), Error> {
    match data.get("batch_input") {
        None | Some(Value::Null) => Ok((false, vec![data])),
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|v| match v {
                Value::Object(m) => Ok(m),
                _ => Err(Error::bad_request("batch_input items must be objects")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|list| (true, list)),
        Some(Value::Array(_)) => Err(Error::bad_request("missing batch input to process")),
        Some(_) => Err(Error::bad_request("batch_input must be a list")),
    }
}

/// Runs `op` on every item and answers. A single request answers its item's fields, or its
/// error; a batch answers `batch_results`, each item with its own `error` and `reference`,
/// and is a 400 when any failed, as Vault answers without `partial_failure_response_code`.
fn per_item(
    (batch, list): (bool, Vec<&Map>),
    op: impl Fn(&Map) -> Result<Map, Error>,
) -> Result<Response, Error> {
    if !batch {
        return match list.first() {
            Some(item) => op(item).map(Response::data),
            None => Err(Error::internal("transit: no item")),
        };
    }
    let mut failed = false;
    let results: Vec<Value> = list
        .iter()
        .map(|item| {
            let mut result = op(item).unwrap_or_else(|e| {
                failed = true;
                let mut m = Map::new();
                m.insert("error".into(), json!(e.to_string()));
                m
            });
            if let Some(reference) = item.get("reference") {
                result.insert("reference".into(), reference.clone());
            }
            Value::Object(result)
        })
        .collect();
    let mut data = Map::new();
    data.insert("batch_results".into(), Value::Array(results));
    let mut resp = Response::data(data);
    if failed {
        resp.status = Some(400);
    }
    Ok(resp)
}

fn ciphertext_answer(ciphertext: String, version: u32) -> Map {
    let mut m = Map::new();
    m.insert("ciphertext".into(), json!(ciphertext));
    m.insert("key_version".into(), json!(version));
    m
}

fn encrypt_item(key: &Key, item: &Map) -> Result<Map, Error> {
    refuse_context(item)?;
    let text = input::string(item, "plaintext")?.unwrap_or_default();
    let plaintext = Zeroizing::new(
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| Error::bad_request(go_base64_error(&e, text.len())))?,
    );
    let (ciphertext, version) = key.encrypt(&plaintext, key_version(item)?)?;
    Ok(ciphertext_answer(ciphertext, version))
}

/// Go's wording for a bad base64 input, which Vault passes on: where the input went wrong.
fn go_base64_error(e: &base64::DecodeError, len: usize) -> String {
    use base64::DecodeError::*;
    let at = match e {
        InvalidByte(at, _) | InvalidLastSymbol(at, _) => *at,
        InvalidLength(_) | InvalidPadding => len,
    };
    format!("illegal base64 data at input byte {at}")
}

fn ciphertext_of(item: &Map, verb: &str) -> Result<String, Error> {
    match input::string(item, "ciphertext")? {
        Some(c) if !c.is_empty() => Ok(c),
        _ => Err(Error::bad_request(format!("missing ciphertext to {verb}"))),
    }
}

fn decrypt_item(key: &Key, item: &Map) -> Result<Map, Error> {
    refuse_context(item)?;
    let (plaintext, _) = key.decrypt(&ciphertext_of(item, "decrypt")?)?;
    let mut m = Map::new();
    m.insert(
        "plaintext".into(),
        json!(STANDARD.encode(plaintext.as_slice())),
    );
    Ok(m)
}

fn rewrap_item(key: &Key, item: &Map) -> Result<Map, Error> {
    refuse_context(item)?;
    let (plaintext, _) = key.decrypt(&ciphertext_of(item, "decrypt")?)?;
    let (ciphertext, version) = key.encrypt(&plaintext, key_version(item)?)?;
    Ok(ciphertext_answer(ciphertext, version))
}

impl Transit {
    async fn create(
        &self,
        storage: &dyn Storage,
        name: &str,
        data: &Map,
    ) -> Result<Response, Error> {
        key_type(data)?;
        let _writes = self.writes.lock().await;
        if let Some(existing) = load(storage, name).await? {
            // Vault answers a create of an existing key with the key, unchanged.
            return Ok(Response::data(existing.describe()));
        }
        let mut key = Key::generate(name, self.now());
        key.configure(&filtered(
            data,
            &["exportable", "allow_plaintext_backup", "auto_rotate_period"],
        ))?;
        store(storage, &key).await?;
        Ok(Response::data(key.describe()))
    }

    async fn encrypt(
        &self,
        storage: &dyn Storage,
        name: &str,
        data: &Map,
    ) -> Result<Response, Error> {
        let items = items(data)?;
        let key = match load(storage, name).await? {
            Some(key) => key,
            // The first encrypt creates the key, as in Vault; the ACL asked for `create`.
            None => {
                key_type(data)?;
                let _writes = self.writes.lock().await;
                match load(storage, name).await? {
                    Some(key) => key,
                    None => {
                        let key = Key::generate(name, self.now());
                        store(storage, &key).await?;
                        key
                    }
                }
            }
        };
        per_item(items, |item| encrypt_item(&key, item))
    }

    async fn data_key(
        &self,
        storage: &dyn Storage,
        name: &str,
        plaintext: bool,
        data: &Map,
    ) -> Result<Response, Error> {
        refuse_context(data)?;
        let bits = input::int(data, "bits")?.unwrap_or(256);
        let len = match bits {
            128 | 256 | 512 => (bits / 8) as usize,
            _ => return Err(Error::bad_request("invalid bits value")),
        };
        let key = existing(storage, name).await?;
        let mut material = Zeroizing::new(vec![0u8; len]);
        rand::rngs::OsRng.fill_bytes(&mut material);
        let (ciphertext, version) = key.encrypt(&material, key_version(data)?)?;
        let mut m = ciphertext_answer(ciphertext, version);
        if plaintext {
            m.insert(
                "plaintext".into(),
                json!(STANDARD.encode(material.as_slice())),
            );
        }
        Ok(Response::data(m))
    }

    async fn modify(
        &self,
        storage: &dyn Storage,
        name: &str,
        change: impl FnOnce(&mut Key, i64) -> Result<(), Error>,
    ) -> Result<Response, Error> {
        let _writes = self.writes.lock().await;
        let mut key = load(storage, name)
            .await?
            .ok_or_else(|| Error::bad_request("no such key"))?;
        change(&mut key, self.now())?;
        store(storage, &key).await?;
        Ok(Response::data(key.describe()))
    }

    async fn delete(&self, storage: &dyn Storage, name: &str) -> Result<Response, Error> {
        let _writes = self.writes.lock().await;
        match load(storage, name).await? {
            None => Ok(Response::empty()),
            Some(key) if !key.deletion_allowed => Err(Error::bad_request(format!(
                "error deleting policy {name}: deletion is not allowed for this key"
            ))),
            Some(_) => {
                storage.delete(&format!("{KEY_PREFIX}{name}")).await?;
                Ok(Response::empty())
            }
        }
    }
}

/// `data` restricted to `keys`.
fn filtered(data: &Map, keys: &[&str]) -> Map {
    data.iter()
        .filter(|(k, _)| keys.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[async_trait]
impl Backend for Transit {
    /// A write of `keys/<name>` or `encrypt/<name>` creates the key when it is missing, so
    /// the ACL asks for `create` then and `update` otherwise, as Vault does.
    async fn exists(&self, path: &str, storage: &dyn Storage) -> Result<Option<bool>, Error> {
        match route(path) {
            Some(Route::Key(name) | Route::Encrypt(name)) => Ok(Some(
                storage.get(&format!("{KEY_PREFIX}{name}")).await?.is_some(),
            )),
            _ => Ok(None),
        }
    }

    async fn handle(&self, req: &Request, storage: &dyn Storage) -> Result<Response, Error> {
        let Some(route) = route(&req.path) else {
            return Err(Error::NoHandler("unsupported path".into()));
        };
        let data = &req.data;
        match (route, req.operation) {
            (Route::KeyList, Operation::List) => Response::list(storage.list(KEY_PREFIX).await?),
            (Route::Key(name), Operation::Read) => match load(storage, name).await? {
                Some(key) => Ok(Response::data(key.describe())),
                None => Err(Error::NotFound),
            },
            (Route::Key(name), Operation::Update) => self.create(storage, name, data).await,
            (Route::Key(name), Operation::Delete) => self.delete(storage, name).await,
            (Route::Config(name), Operation::Update) => {
                self.modify(storage, name, |key, _| key.configure(data))
                    .await
            }
            (Route::Rotate(name), Operation::Update) => {
                self.modify(storage, name, |key, now| {
                    key.rotate(now);
                    Ok(())
                })
                .await
            }
            (Route::Encrypt(name), Operation::Update) => self.encrypt(storage, name, data).await,
            (Route::Decrypt(name), Operation::Update) => {
                let key = existing(storage, name).await?;
                per_item(items(data)?, |item| decrypt_item(&key, item))
            }
            (Route::Rewrap(name), Operation::Update) => {
                let key = existing(storage, name).await?;
                per_item(items(data)?, |item| rewrap_item(&key, item))
            }
            (Route::DataKey { plaintext, name }, Operation::Update) => {
                self.data_key(storage, name, plaintext, data).await
            }
            _ => Err(Error::UnsupportedOperation),
        }
    }
}

#[cfg(test)]
mod tests;
