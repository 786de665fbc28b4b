//! Hidden names: every segment of a storage key is encrypted deterministically, so the database
//! file shows neither tenant names nor secret paths nor role-ids, while a key still maps to one
//! fixed stored key (point reads stay one lookup) and the stored keys keep the tree shape that
//! prefix LIST needs.
//!
//! A segment `s` whose parent segment encrypted to the tag `t` is stored as
//!
//! ```text
//! base64url_nopad( AES-256-SIV(name key, headers = [t], pad(s)) )      // tag || ciphertext
//! ```
//!
//! and a first segment with no header at all. Chaining the parent's tag (a PRF of the whole
//! plaintext path above it) makes the same name under two parents encrypt differently, so the
//! file does not even show that two tenants share a sub-path; it costs one fixed-size header per
//! segment, not the whole prefix. `pad` is ISO/IEC 7816-4 padding (0x80, then zeros) up to a
//! multiple of 16 bytes, so a name's length shows only in steps of 16.
//!
//! What the file still shows: the tree's shape (depth, fan-out, which entries share a parent),
//! lengths rounded up to 16 bytes, and that a name is the same wherever the same parent is.
//! Every encoded segment is at least 43 characters of `[A-Za-z0-9_-]`, so it can never equal a
//! plaintext segment such as `core` of the records kept outside the barrier.

use aes_siv::siv::Aes256Siv;
use aes_siv::{KeyInit, Tag};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use parking_lot::Mutex;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use super::keyring::CryptoError;

/// AES-256-SIV takes two 256-bit keys: one for S2V (CMAC), one for CTR.
pub(crate) const NAME_KEY_LEN: usize = 64;
const BLOCK: usize = 16;
const PAD_MARK: u8 = 0x80;

/// The tag of an encoded segment: the header of its children.
pub(crate) type ParentTag = [u8; BLOCK];

/// The name key. There is deliberately no `Debug` or `Clone`: the raw bytes are wiped on drop
/// (`Zeroizing`), the SIV's CTR key by `Siv`'s own `Drop`, and its CMAC's AES round keys by the
/// `aes/zeroize` feature.
pub(crate) struct NameKey {
    key: Zeroizing<[u8; NAME_KEY_LEN]>,
    /// `Siv` needs `&mut self` (its CMAC is reset between uses). Encoding one path takes the
    /// lock once; it is never held across an `.await`.
    siv: Mutex<Aes256Siv>,
}

impl NameKey {
    pub(crate) fn new(key: Zeroizing<[u8; NAME_KEY_LEN]>) -> Self {
        let siv = Mutex::new(Aes256Siv::new(key.as_ref().into()));
        Self { key, siv }
    }

    pub(crate) fn generate() -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0u8; NAME_KEY_LEN]);
        OsRng
            .try_fill_bytes(key.as_mut())
            .map_err(|_| CryptoError::Random)?;
        Ok(Self::new(key))
    }

    pub(crate) fn duplicate(&self) -> Self {
        Self::new(self.key.clone())
    }

    pub(crate) fn bytes(&self) -> &[u8; NAME_KEY_LEN] {
        &self.key
    }

    /// The stored form of a whole key: every `/`-separated segment encrypted, empty ones
    /// included, so `a//b` and `a/b/` stay distinct from `a/b`.
    pub(crate) fn encode_path(&self, path: &str) -> Result<String, CryptoError> {
        let mut siv = self.siv.lock();
        let mut out = String::with_capacity(path.len() * 2 + 48);
        let mut parent: Option<ParentTag> = None;
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            parent = Some(encode_segment(
                &mut siv,
                parent.as_ref(),
                segment,
                &mut out,
            )?);
        }
        Ok(out)
    }

    /// The stored form of a directory `dir` (a key prefix that ends in `/`, or empty for the
    /// root), with a trailing `/`, and the header its children were encrypted under.
    pub(crate) fn encode_dir(&self, dir: &str) -> Result<(String, Option<ParentTag>), CryptoError> {
        let Some(inner) = dir.strip_suffix('/') else {
            return Ok((String::new(), None));
        };
        let mut siv = self.siv.lock();
        let mut out = String::with_capacity(dir.len() * 2 + 48);
        let mut parent: Option<ParentTag> = None;
        for segment in inner.split('/') {
            parent = Some(encode_segment(
                &mut siv,
                parent.as_ref(),
                segment,
                &mut out,
            )?);
            out.push('/');
        }
        Ok((out, parent))
    }

    /// The stored form of `segment` as a child of a directory whose stored form (from
    /// [`Self::encode_dir`]) is `stored_dir` and whose header is `parent`:
    /// `encode_child(encode_dir(d), s) == encode_path(d + s)`, at the cost of one segment.
    pub(crate) fn encode_child(
        &self,
        stored_dir: &str,
        parent: Option<&ParentTag>,
        segment: &str,
    ) -> Result<String, CryptoError> {
        let mut out = String::with_capacity(stored_dir.len() + 2 * segment.len() + 48);
        out.push_str(stored_dir);
        encode_segment(&mut self.siv.lock(), parent, segment, &mut out)?;
        Ok(out)
    }

    /// Decrypts the names of `children`, stored under a parent whose header is `parent`. A
    /// name that fails authentication was not written by this key under this parent:
    /// tampering or corruption, and an error, never a silently skipped entry.
    pub(crate) fn decode_children<'a>(
        &self,
        parent: Option<&ParentTag>,
        children: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<String>, CryptoError> {
        let mut siv = self.siv.lock();
        children
            .into_iter()
            .map(|child| decode_segment(&mut siv, parent, child))
            .collect()
    }
}

fn encode_segment(
    siv: &mut Aes256Siv,
    parent: Option<&ParentTag>,
    segment: &str,
    out: &mut String,
) -> Result<ParentTag, CryptoError> {
    // Room for the tag in front, then the padded name; the capacity is exact.
    let padded_len = (segment.len() / BLOCK + 1) * BLOCK;
    let mut buf = Vec::with_capacity(BLOCK + padded_len);
    buf.resize(BLOCK, 0);
    buf.extend_from_slice(segment.as_bytes());
    buf.push(PAD_MARK);
    buf.resize(BLOCK + padded_len, 0);
    let tag = siv
        .encrypt_in_place_detached(parent, &mut buf[BLOCK..])
        .map_err(|_| CryptoError::Encrypt)?;
    buf[..BLOCK].copy_from_slice(&tag);
    URL_SAFE_NO_PAD.encode_string(&buf, out);
    Ok(tag.into())
}

fn decode_segment(
    siv: &mut Aes256Siv,
    parent: Option<&ParentTag>,
    encoded: &str,
) -> Result<String, CryptoError> {
    let mut buf = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| CryptoError::MalformedName)?;
    if buf.len() < 2 * BLOCK || buf.len() % BLOCK != 0 {
        return Err(CryptoError::MalformedName);
    }
    let (tag, body) = buf.split_at_mut(BLOCK);
    siv.decrypt_in_place_detached(parent, body, Tag::from_slice(tag))
        .map_err(|_| CryptoError::Authentication)?;
    let mark = body
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(CryptoError::MalformedName)?;
    if body[mark] != PAD_MARK {
        return Err(CryptoError::MalformedName);
    }
    buf.truncate(BLOCK + mark);
    buf.drain(..BLOCK);
    String::from_utf8(buf).map_err(|_| CryptoError::MalformedName)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> NameKey {
        NameKey::new(Zeroizing::new([byte; NAME_KEY_LEN]))
    }

    #[test]
    fn encoding_is_deterministic_keyed_and_chained() {
        let k = key(1);
        let a = k.encode_path("tenant/acme/shopify").unwrap();
        assert_eq!(a, k.encode_path("tenant/acme/shopify").unwrap());
        assert_ne!(a, key(2).encode_path("tenant/acme/shopify").unwrap());
        let parts: Vec<&str> = a.split('/').collect();
        assert_eq!(parts.len(), 3);
        assert!(!a.contains("acme") && !a.contains("tenant") && !a.contains("shopify"));
        // The same name under another parent is stored differently.
        let b = k.encode_path("tenant/other/shopify").unwrap();
        let b_parts: Vec<&str> = b.split('/').collect();
        assert_eq!(parts[0], b_parts[0]);
        assert_ne!(parts[2], b_parts[2]);
        // And a directory's stored form is the prefix of its children's.
        let (dir, _) = k.encode_dir("tenant/acme/").unwrap();
        assert!(a.starts_with(&dir), "{a} vs {dir}");
        assert_eq!(k.encode_dir("").unwrap(), (String::new(), None));
        for (d, leaf) in [
            ("tenant/acme/", "shopify"),
            ("", "top"),
            ("a//", ""),
            ("x/", ""),
        ] {
            let (dir, parent) = k.encode_dir(d).unwrap();
            assert_eq!(
                k.encode_child(&dir, parent.as_ref(), leaf).unwrap(),
                k.encode_path(&format!("{d}{leaf}")).unwrap(),
                "{d:?} + {leaf:?}"
            );
        }
    }

    #[test]
    fn segments_round_trip_through_their_parent() {
        let k = key(3);
        let odd = [
            "",
            "a",
            "exactly-16-bytes",
            "fifteen-bytes-x",
            "ümlaut ☃ 名前",
            "with space",
            "nul\0byte",
            "\u{80}\u{80}",
            "trailing\0\0",
            &"x".repeat(1000),
        ];
        for name in odd {
            let path = format!("p/{name}");
            let encoded = k.encode_path(&path).unwrap();
            let (dir, parent) = k.encode_dir("p/").unwrap();
            let child = encoded.strip_prefix(&dir).unwrap();
            assert!(!child.contains('/'));
            assert!(child.len() >= 43, "{child}");
            assert!(child
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            let names = k.decode_children(parent.as_ref(), [child]).unwrap();
            assert_eq!(names, vec![name.to_string()]);
            // Lengths show only in steps of 16 bytes.
            let len = URL_SAFE_NO_PAD.decode(child).unwrap().len();
            assert_eq!(len, BLOCK + (name.len() / BLOCK + 1) * BLOCK);
        }
    }

    #[test]
    fn names_under_the_wrong_parent_or_key_or_tampered_are_errors() {
        let k = key(4);
        let encoded = k.encode_path("a/b").unwrap();
        let child = encoded.split('/').nth(1).unwrap();
        let (_, a) = k.encode_dir("a/").unwrap();
        let (_, other) = k.encode_dir("c/").unwrap();
        assert!(k.decode_children(a.as_ref(), [child]).is_ok());
        assert!(matches!(
            k.decode_children(other.as_ref(), [child]),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            key(5).decode_children(a.as_ref(), [child]),
            Err(CryptoError::Authentication)
        ));
        let mut tampered = child.as_bytes().to_vec();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(k.decode_children(a.as_ref(), [tampered.as_str()]).is_err());
        for junk in ["", "core", "not base64!", "AAAA", &"A".repeat(43)] {
            assert!(k.decode_children(a.as_ref(), [junk]).is_err(), "{junk}");
        }
    }
}
