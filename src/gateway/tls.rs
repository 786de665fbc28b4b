//! TLS for listeners, with rustls through pingora.
//!
//! pingora's own `TlsSettings::build` reads the certificate files inside the service's runtime
//! and panics on a bad file, which would leave a server that runs but listens on nothing. So the
//! files are read and checked here, before the server starts, and pingora gets a ready-made
//! certificate resolver.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use pingora::listeners::tls::TlsSettings;
use pingora::tls::sign::{CertifiedKey, SingleCertAndKey};
use pingora::tls::{CertificateDer, CryptoProvider, PrivateKeyDer};

use super::GatewayError;
use crate::config::TlsFiles;

/// Installs the process-wide rustls crypto provider (ring, the one pingora is built with).
/// rustls 0.23 refuses to build a config without one; installing twice is a no-op.
pub fn install_crypto_provider() {
    pingora::tls::install_default_crypto_provider();
}

/// Loads and checks a listener's certificate chain and key, and returns pingora's settings.
pub fn settings(files: &TlsFiles) -> Result<TlsSettings, GatewayError> {
    let certified = certified_key(files)?;
    // The paths given here are never read: the resolver below takes precedence in `build`.
    let mut settings = TlsSettings::intermediate(
        &files.cert_file.to_string_lossy(),
        &files.key_file.to_string_lossy(),
    )
    .map_err(|e| GatewayError::Tls {
        file: files.cert_file.clone(),
        reason: e.to_string(),
    })?;
    settings.set_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    Ok(settings)
}

/// The certificate chain and the matching private key, checked against each other.
pub fn certified_key(files: &TlsFiles) -> Result<CertifiedKey, GatewayError> {
    install_crypto_provider();
    let certs = load_certs(&files.cert_file)?;
    let key = load_key(&files.key_file)?;
    let provider = CryptoProvider::get_default().ok_or_else(|| GatewayError::Tls {
        file: files.cert_file.clone(),
        reason: "no TLS crypto provider is installed".into(),
    })?;
    // Names the key file: a mismatch or an unsupported algorithm is a property of the key.
    CertifiedKey::from_der(certs, key, provider).map_err(|e| GatewayError::Tls {
        file: files.key_file.clone(),
        reason: format!("the private key cannot be used with the certificate: {e}"),
    })
}

fn open(path: &Path) -> Result<BufReader<File>, GatewayError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| GatewayError::Tls {
            file: path.to_path_buf(),
            reason: e.to_string(),
        })
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, GatewayError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| GatewayError::Tls {
            file: path.to_path_buf(),
            reason: format!("invalid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(GatewayError::Tls {
            file: path.to_path_buf(),
            reason: "no certificate found (expected a PEM \"CERTIFICATE\" block)".into(),
        });
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, GatewayError> {
    // The error text of rustls-pemfile never includes key material.
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|e| GatewayError::Tls {
            file: path.to_path_buf(),
            reason: format!("invalid PEM: {e}"),
        })?
        .ok_or_else(|| GatewayError::Tls {
            file: path.to_path_buf(),
            reason: "no private key found (expected a PKCS#8, PKCS#1 or SEC1 PEM block)".into(),
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    // A throwaway self-signed P-256 certificate (not a CA, as webpki wants of a leaf) for
    // `localhost`/127.0.0.1, valid for 100 years, generated for these tests only. It protects
    // nothing.
    pub const TEST_CERT: &str = include_str!("testdata/localhost.crt");
    pub const TEST_KEY: &str = include_str!("testdata/localhost.key");
    const OTHER_KEY: &str = include_str!("testdata/other.key");

    pub fn write_files(dir: &Path, cert: &str, key: &str) -> TlsFiles {
        let cert_file = dir.join("cert.pem");
        let key_file = dir.join("key.pem");
        std::fs::write(&cert_file, cert).unwrap();
        std::fs::write(&key_file, key).unwrap();
        TlsFiles {
            cert_file,
            key_file,
        }
    }

    #[test]
    fn loads_a_matching_pair() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_files(dir.path(), TEST_CERT, TEST_KEY);
        let key = certified_key(&files).unwrap();
        assert_eq!(key.cert.len(), 1);
        assert!(settings(&files).is_ok());
    }

    #[test]
    fn rejects_a_key_of_another_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_files(dir.path(), TEST_CERT, OTHER_KEY);
        let err = certified_key(&files).err().unwrap();
        assert!(matches!(&err, GatewayError::Tls { file, .. } if *file == files.key_file));
    }

    #[test]
    fn names_the_file_that_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        // Key and certificate swapped.
        let files = write_files(dir.path(), TEST_KEY, TEST_CERT);
        let err = certified_key(&files).err().unwrap();
        assert!(matches!(&err, GatewayError::Tls { file, .. } if *file == files.cert_file));
        assert!(err.to_string().contains("no certificate found"), "{err}");

        let files = TlsFiles {
            cert_file: PathBuf::from("/nonexistent/cert.pem"),
            key_file: PathBuf::from("/nonexistent/key.pem"),
        };
        let err = certified_key(&files).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");

        let files = write_files(dir.path(), TEST_CERT, "not a key\n");
        let err = certified_key(&files).err().unwrap();
        assert!(err.to_string().contains("no private key found"), "{err}");
    }
}
