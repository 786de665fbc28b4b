//! The keyring: one AES-256-GCM key per term, the active term, the name key that hides storage
//! keys (see `names.rs`), and the root key that seals the keyring itself at rest.
//!
//! Ciphertext layout, for entries and for the keyring alike:
//!
//! ```text
//! [term: u32 big-endian][version: u8 = 1][nonce: 12 random bytes][ciphertext][tag: 16 bytes]
//! ```
//!
//! The storage path is the associated data, so an entry copied to another path fails to
//! decrypt. The keyring is sealed with the root key under the reserved term 0, which no
//! keyring term ever uses.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::names::{NameKey, NAME_KEY_LEN};

pub(crate) const KEY_LEN: usize = 32;
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 4 + 1 + NONCE_LEN;
/// The term written in front of the keyring blob, which the root key seals.
const ROOT_TERM: u32 = 0;

/// The serialised keyring's own format version (inside the encrypted blob). Format 1 had no
/// name key: its database stores plaintext names, and unsealing it migrates them
/// (`migrate.rs`).
const KEYRING_FORMAT: u8 = 2;
const LEGACY_KEYRING_FORMAT: u8 = 1;
/// Bytes of one serialised term: term, install seconds, install nanos, key.
const TERM_RECORD_LEN: usize = 4 + 8 + 4 + KEY_LEN;

/// Errors of encryption and decryption. None carries key or value bytes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CryptoError {
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("unsupported ciphertext version {0}")]
    UnsupportedVersion(u8),
    #[error("no key for term {0}")]
    UnknownTerm(u32),
    #[error("cipher: message authentication failed")]
    Authentication,
    #[error("encryption failed")]
    Encrypt,
    #[error("random number generator failed")]
    Random,
    #[error("keyring is malformed")]
    MalformedKeyring,
    #[error("key terms are exhausted")]
    TermsExhausted,
    #[error("stored name is malformed")]
    MalformedName,
}

/// One term's key. The raw bytes are kept (zeroized on drop) so the keyring can be persisted;
/// the cipher is built once per term because its key schedule is the costly part of a
/// small encryption. With `aes/zeroize` the round keys are wiped on drop too.
pub(crate) struct TermKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    cipher: Aes256Gcm,
    install_time: SystemTime,
}

impl TermKey {
    fn new(key: Zeroizing<[u8; KEY_LEN]>, install_time: SystemTime) -> Self {
        let cipher = Aes256Gcm::new(key.as_ref().into());
        Self {
            key,
            cipher,
            install_time,
        }
    }

    fn generate(install_time: SystemTime) -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng
            .try_fill_bytes(key.as_mut())
            .map_err(|_| CryptoError::Random)?;
        Ok(Self::new(key, install_time))
    }

    fn duplicate(&self) -> Self {
        Self::new(self.key.clone(), self.install_time)
    }
}

/// The unsealed keyring. Every key is wiped when it is dropped; there is deliberately no
/// `Debug` or `Clone`.
pub(crate) struct Keyring {
    root_key: Zeroizing<[u8; KEY_LEN]>,
    root_cipher: Aes256Gcm,
    terms: BTreeMap<u32, TermKey>,
    active_term: u32,
    names: NameKey,
}

/// What [`Keyring::from_sealed_blob`] found.
pub(crate) enum Opened {
    /// A keyring of the current format.
    Current(Keyring),
    /// A format-1 keyring, which had no name key: its database stores plaintext names. The
    /// keyring carries a freshly generated name key, which becomes durable only together with
    /// the migrated names.
    Legacy(Keyring),
}

impl Keyring {
    /// A new keyring with one random key at term 1 and a random name key.
    pub(crate) fn generate(root_key: &[u8; KEY_LEN]) -> Result<Self, CryptoError> {
        let mut terms = BTreeMap::new();
        terms.insert(1, TermKey::generate(SystemTime::now())?);
        Ok(Self::with_terms(
            Zeroizing::new(*root_key),
            terms,
            1,
            NameKey::generate()?,
        ))
    }

    fn with_terms(
        root_key: Zeroizing<[u8; KEY_LEN]>,
        terms: BTreeMap<u32, TermKey>,
        active_term: u32,
        names: NameKey,
    ) -> Self {
        let root_cipher = Aes256Gcm::new(root_key.as_ref().into());
        Self {
            root_key,
            root_cipher,
            terms,
            active_term,
            names,
        }
    }

    /// The key that hides storage names.
    pub(crate) fn names(&self) -> &NameKey {
        &self.names
    }

    /// A copy of this keyring with one more term, made active. Old terms stay, so every entry
    /// written before the rotation still decrypts.
    ///
    /// The name key is kept as it is: a stored key is found by encrypting its name, so a new
    /// name key would lose every entry written before, unless every key in the database were
    /// rewritten in the same transaction. Rotation protects values written from now on; names
    /// are deterministic by design and stay findable.
    pub(crate) fn rotated(&self) -> Result<Self, CryptoError> {
        let next = self
            .active_term
            .checked_add(1)
            .ok_or(CryptoError::TermsExhausted)?;
        let mut terms: BTreeMap<u32, TermKey> = self
            .terms
            .iter()
            .map(|(term, key)| (*term, key.duplicate()))
            .collect();
        terms.insert(next, TermKey::generate(SystemTime::now())?);
        Ok(Self::with_terms(
            self.root_key.clone(),
            terms,
            next,
            self.names.duplicate(),
        ))
    }

    /// A copy of this keyring sealed by another root key (`sys/rekey`): the same terms and
    /// name key, so every stored entry stays readable, while the old root key (and every
    /// unseal key split from it) no longer opens the stored keyring.
    pub(crate) fn with_root_key(&self, root_key: &[u8; KEY_LEN]) -> Self {
        let terms = self
            .terms
            .iter()
            .map(|(term, key)| (*term, key.duplicate()))
            .collect();
        Self::with_terms(
            Zeroizing::new(*root_key),
            terms,
            self.active_term,
            self.names.duplicate(),
        )
    }

    /// Whether `candidate` is the root key that seals this keyring, compared in constant
    /// time.
    pub(crate) fn root_key_is(&self, candidate: &[u8]) -> bool {
        candidate.len() == KEY_LEN && bool::from(candidate.ct_eq(self.root_key.as_slice()))
    }

    /// Whether this keyring's root key opens `blob`, a sealed keyring stored at `path` (a
    /// snapshot's): how a restore tells a snapshot of this server from another server's.
    pub(crate) fn opens(&self, path: &str, blob: &[u8]) -> bool {
        Self::from_sealed_blob(&self.root_key, path, blob).is_ok()
    }

    pub(crate) fn active_term(&self) -> u32 {
        self.active_term
    }

    pub(crate) fn active_install_time(&self) -> SystemTime {
        self.terms
            .get(&self.active_term)
            .map_or(UNIX_EPOCH, |k| k.install_time)
    }

    /// Encrypts `plaintext` with the active term's key, bound to `path`.
    pub(crate) fn encrypt(&self, path: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .terms
            .get(&self.active_term)
            .ok_or(CryptoError::UnknownTerm(self.active_term))?;
        seal(&key.cipher, self.active_term, path.as_bytes(), plaintext)
    }

    /// Decrypts an entry stored at `path`, with whichever term's key it names.
    pub(crate) fn decrypt(
        &self,
        path: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let term = blob_term(blob)?;
        let key = self
            .terms
            .get(&term)
            .ok_or(CryptoError::UnknownTerm(term))?;
        open(&key.cipher, path.as_bytes(), blob)
    }

    /// The keyring sealed with the root key, bound to the path it is stored at.
    pub(crate) fn to_sealed_blob(&self, path: &str) -> Result<Vec<u8>, CryptoError> {
        let plaintext = self.serialize();
        seal(&self.root_cipher, ROOT_TERM, path.as_bytes(), &plaintext)
    }

    /// Opens a keyring sealed by [`Self::to_sealed_blob`]. A wrong root key fails
    /// authentication.
    pub(crate) fn from_sealed_blob(
        root_key: &[u8; KEY_LEN],
        path: &str,
        blob: &[u8],
    ) -> Result<Opened, CryptoError> {
        if blob_term(blob)? != ROOT_TERM {
            return Err(CryptoError::MalformedKeyring);
        }
        let root_key = Zeroizing::new(*root_key);
        let plaintext = open(
            &Aes256Gcm::new(root_key.as_ref().into()),
            path.as_bytes(),
            blob,
        )?;
        let (terms, active_term, names) = deserialize(&plaintext)?;
        Ok(match names {
            Some(names) => Opened::Current(Self::with_terms(root_key, terms, active_term, names)),
            None => Opened::Legacy(Self::with_terms(
                root_key,
                terms,
                active_term,
                NameKey::generate()?,
            )),
        })
    }

    /// `[format][active term][count][name key]` then per term `[term][secs][nanos][key]`, all
    /// big-endian, into a buffer that is wiped on drop and never reallocated (its capacity
    /// is exact), so no stray copy of a key is left on the heap.
    fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let len = 1 + 4 + 4 + NAME_KEY_LEN + self.terms.len() * TERM_RECORD_LEN;
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        out.push(KEYRING_FORMAT);
        out.extend_from_slice(&self.active_term.to_be_bytes());
        out.extend_from_slice(&(self.terms.len() as u32).to_be_bytes());
        out.extend_from_slice(self.names.bytes());
        for (term, key) in &self.terms {
            let since_epoch = key
                .install_time
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            out.extend_from_slice(&term.to_be_bytes());
            out.extend_from_slice(&since_epoch.as_secs().to_be_bytes());
            out.extend_from_slice(&since_epoch.subsec_nanos().to_be_bytes());
            out.extend_from_slice(key.key.as_ref());
        }
        out
    }

    /// The format-1 serialisation (no name key), sealed: what a database from before hidden
    /// names holds, for the migration tests.
    #[cfg(test)]
    pub(crate) fn to_legacy_sealed_blob(&self, path: &str) -> Result<Vec<u8>, CryptoError> {
        let current = self.serialize();
        let mut legacy = Zeroizing::new(Vec::with_capacity(current.len()));
        legacy.push(LEGACY_KEYRING_FORMAT);
        legacy.extend_from_slice(&current[1..9]);
        legacy.extend_from_slice(&current[9 + NAME_KEY_LEN..]);
        seal(&self.root_cipher, ROOT_TERM, path.as_bytes(), &legacy)
    }

    #[cfg(test)]
    pub(crate) fn term_keys(&self) -> Vec<[u8; KEY_LEN]> {
        self.terms.values().map(|k| *k.key).collect()
    }
}

type Deserialized = (BTreeMap<u32, TermKey>, u32, Option<NameKey>);

fn deserialize(bytes: &[u8]) -> Result<Deserialized, CryptoError> {
    let mut reader = Reader(bytes);
    let format = reader.take::<1>()?[0];
    if format != KEYRING_FORMAT && format != LEGACY_KEYRING_FORMAT {
        return Err(CryptoError::MalformedKeyring);
    }
    let active_term = u32::from_be_bytes(reader.take()?);
    let count = u32::from_be_bytes(reader.take()?) as usize;
    let names = if format == KEYRING_FORMAT {
        Some(NameKey::new(Zeroizing::new(reader.take::<NAME_KEY_LEN>()?)))
    } else {
        None
    };
    if reader.0.len() != count.saturating_mul(TERM_RECORD_LEN) {
        return Err(CryptoError::MalformedKeyring);
    }
    let mut terms = BTreeMap::new();
    for _ in 0..count {
        let term = u32::from_be_bytes(reader.take()?);
        let secs = u64::from_be_bytes(reader.take()?);
        let nanos = u32::from_be_bytes(reader.take()?);
        let key = Zeroizing::new(reader.take::<KEY_LEN>()?);
        let install_time = UNIX_EPOCH
            .checked_add(Duration::new(secs, nanos.min(999_999_999)))
            .ok_or(CryptoError::MalformedKeyring)?;
        if term == ROOT_TERM || terms.contains_key(&term) {
            return Err(CryptoError::MalformedKeyring);
        }
        terms.insert(term, TermKey::new(key, install_time));
    }
    if !terms.contains_key(&active_term) {
        return Err(CryptoError::MalformedKeyring);
    }
    Ok((terms, active_term, names))
}

/// Reads fixed-size fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], CryptoError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(CryptoError::MalformedKeyring)?;
        self.0 = rest;
        Ok(*head)
    }
}

fn blob_term(blob: &[u8]) -> Result<u32, CryptoError> {
    if blob.len() < HEADER_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    if blob[4] != VERSION {
        return Err(CryptoError::UnsupportedVersion(blob[4]));
    }
    let term: [u8; 4] = blob[..4].try_into().map_err(|_| CryptoError::Malformed)?;
    Ok(u32::from_be_bytes(term))
}

fn seal(
    cipher: &Aes256Gcm,
    term: u32,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|_| CryptoError::Random)?;
    // The capacity is exact, so appending the tag never reallocates and leaves no copy of
    // the plaintext behind.
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&term.to_be_bytes());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    match cipher.encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut out[HEADER_LEN..]) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(out)
        }
        Err(_) => {
            // The buffer still holds the plaintext.
            out.zeroize();
            Err(CryptoError::Encrypt)
        }
    }
}

fn open(cipher: &Aes256Gcm, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if blob.len() < HEADER_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    let nonce = Nonce::from_slice(&blob[5..HEADER_LEN]);
    let (ciphertext, tag) = blob[HEADER_LEN..].split_at(blob.len() - HEADER_LEN - TAG_LEN);
    let mut plaintext = Zeroizing::new(ciphertext.to_vec());
    cipher
        .decrypt_in_place_detached(nonce, aad, &mut plaintext, Tag::from_slice(tag))
        .map_err(|_| CryptoError::Authentication)?;
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::generate(&[9u8; KEY_LEN]).unwrap()
    }

    #[test]
    fn roundtrip_and_layout() {
        let ring = keyring();
        let blob = ring.encrypt("secret/a", b"hello").unwrap();
        assert_eq!(&blob[..4], &1u32.to_be_bytes());
        assert_eq!(blob[4], VERSION);
        assert_eq!(blob.len(), HEADER_LEN + 5 + TAG_LEN);
        assert_eq!(
            ring.decrypt("secret/a", &blob).unwrap().as_slice(),
            b"hello"
        );
        // Random nonces: the same plaintext never encrypts the same way twice.
        assert_ne!(blob, ring.encrypt("secret/a", b"hello").unwrap());
    }

    #[test]
    fn tampering_fails_authentication() {
        let ring = keyring();
        let blob = ring.encrypt("p", b"value").unwrap();
        for i in HEADER_LEN - NONCE_LEN..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert!(matches!(
                ring.decrypt("p", &bad),
                Err(CryptoError::Authentication)
            ));
        }
        let mut bad_term = blob.clone();
        bad_term[3] = 7;
        assert!(matches!(
            ring.decrypt("p", &bad_term),
            Err(CryptoError::UnknownTerm(7))
        ));
        let mut bad_version = blob;
        bad_version[4] = 2;
        assert!(matches!(
            ring.decrypt("p", &bad_version),
            Err(CryptoError::UnsupportedVersion(2))
        ));
        assert!(ring.decrypt("p", &[0; 20]).is_err());
    }

    #[test]
    fn keyring_blob_roundtrip_and_wrong_root_key() {
        let ring = keyring().rotated().unwrap();
        let blob = ring.to_sealed_blob("core/keyring").unwrap();
        let Opened::Current(back) =
            Keyring::from_sealed_blob(&[9u8; KEY_LEN], "core/keyring", &blob).unwrap()
        else {
            panic!("a current keyring opened as legacy");
        };
        assert_eq!(back.active_term(), 2);
        assert_eq!(back.term_keys(), ring.term_keys());
        assert_eq!(back.names().bytes(), ring.names().bytes());
        let entry = ring.encrypt("x", b"v").unwrap();
        assert_eq!(back.decrypt("x", &entry).unwrap().as_slice(), b"v");

        assert!(matches!(
            Keyring::from_sealed_blob(&[8u8; KEY_LEN], "core/keyring", &blob),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            Keyring::from_sealed_blob(&[9u8; KEY_LEN], "core/other", &blob),
            Err(CryptoError::Authentication)
        ));
    }

    #[test]
    fn rotation_keeps_the_name_key_and_a_legacy_keyring_gets_a_new_one() {
        let ring = keyring();
        let rotated = ring.rotated().unwrap().rotated().unwrap();
        assert_eq!(rotated.names().bytes(), ring.names().bytes());
        assert_eq!(
            rotated.names().encode_path("tenant/acme").unwrap(),
            ring.names().encode_path("tenant/acme").unwrap()
        );

        let legacy = rotated.to_legacy_sealed_blob("core/keyring").unwrap();
        let Opened::Legacy(opened) =
            Keyring::from_sealed_blob(&[9u8; KEY_LEN], "core/keyring", &legacy).unwrap()
        else {
            panic!("a format-1 keyring opened as current");
        };
        assert_eq!(opened.active_term(), 3);
        assert_eq!(opened.term_keys(), rotated.term_keys());
        assert_ne!(opened.names().bytes(), ring.names().bytes());
        // Written back, it is of the current format.
        let blob = opened.to_sealed_blob("core/keyring").unwrap();
        assert!(matches!(
            Keyring::from_sealed_blob(&[9u8; KEY_LEN], "core/keyring", &blob),
            Ok(Opened::Current(_))
        ));
    }

    /// Fails to compile if the type implements `Debug`: the two blanket impls make the call
    /// ambiguous exactly then (the trick of `static_assertions::assert_not_impl_any`). It must
    /// name a concrete type; inside a generic function only the first impl is ever seen.
    macro_rules! assert_no_debug {
        ($t:ty) => {{
            trait AmbiguousIfDebug<A> {
                fn check() {}
            }
            impl<T: ?Sized> AmbiguousIfDebug<()> for T {}
            #[allow(dead_code)]
            struct IsDebug;
            impl<T: ?Sized + std::fmt::Debug> AmbiguousIfDebug<IsDebug> for T {}
            <$t as AmbiguousIfDebug<_>>::check();
        }};
    }

    #[test]
    fn no_key_holder_implements_debug() {
        assert_no_debug!(Keyring);
        assert_no_debug!(NameKey);
        assert_no_debug!(TermKey);
    }

    #[test]
    fn malformed_keyring_is_rejected() {
        assert!(deserialize(&[]).is_err());
        assert!(deserialize(&[KEYRING_FORMAT, 0, 0, 0, 1, 0, 0, 0, 0]).is_err());
        let ring = keyring();
        let bytes = ring.serialize();
        assert!(deserialize(&bytes).is_ok());
        assert!(deserialize(&bytes[..bytes.len() - 1]).is_err());
        // Without its name key, a format-2 keyring is malformed.
        let mut short = bytes[..9].to_vec();
        short.extend_from_slice(&bytes[9 + NAME_KEY_LEN..]);
        assert!(deserialize(&short).is_err());
        let mut unknown = bytes.to_vec();
        unknown[0] = 3;
        assert!(deserialize(&unknown).is_err());
    }
}
