//! TLS for the metrics listener: a rustls server configuration whose certificate is
//! reloaded when its files change.
//!
//! [`ReloadingCertResolver`] serves the certificate chain and key read from two PEM files.
//! On a handshake, at most once per [check interval](ReloadingCertResolver::with_check_interval)
//! (default one second), it compares the files' modification times and sizes with those it
//! loaded; when they differ it loads the files again. New files that do not load (a
//! half-written rotation, a key that does not match the certificate) are logged and the
//! previous certificate stays in service until the files change again. This fits
//! cert-manager and Kubernetes secret volumes, which replace the files in place.
//!
//! Only the `ring` provider is used, chosen explicitly, so no process-wide default
//! provider needs installing.

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;

/// How often a handshake may look at the certificate files: once per second.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why the certificate or key could not be loaded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file cannot be read or holds invalid PEM.
    #[error(
        "TLS certificate file `{}` cannot be read ({source}): expected a PEM certificate chain",
        path.display()
    )]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error(
        "TLS certificate file `{}` holds no certificate: expected a PEM certificate chain \
         (`-----BEGIN CERTIFICATE-----`)",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file cannot be read or holds no private key.
    #[error(
        "TLS key file `{}` cannot be read ({source}): expected a PEM private key (PKCS#8, \
         PKCS#1 or SEC1)",
        path.display()
    )]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The key is not usable or does not match the certificate.
    #[error(
        "TLS key file `{}` does not fit certificate `{}` ({source}): expected the private \
         key of the chain's first certificate",
        key.display(),
        cert.display()
    )]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the configuration.
    #[error("rustls refused the TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// Serves a certificate read from PEM files, reloading it when they change; see the
/// [module](self) docs.
pub struct ReloadingCertResolver {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    check_interval: Duration,
    state: Mutex<State>,
}

struct State {
    current: Arc<CertifiedKey>,
    stamp: Stamp,
    last_check: Instant,
}

/// Modification time and size of both files; `None` when a file cannot be stat'ed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp([Option<(SystemTime, u64)>; 2]);

impl Stamp {
    fn read(cert: &Path, key: &Path) -> Self {
        let one = |p: &Path| {
            let meta = std::fs::metadata(p).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        };
        Self([one(cert), one(key)])
    }
}

impl fmt::Debug for ReloadingCertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCertResolver")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("check_interval", &self.check_interval)
            .finish_non_exhaustive()
    }
}

impl ReloadingCertResolver {
    /// Loads the certificate chain and key now.
    ///
    /// # Errors
    /// A [`TlsError`] naming the file and what is wrong with it.
    pub fn new(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamp = Stamp::read(cert_path, key_path);
        let current = Arc::new(load(cert_path, key_path, &provider)?);
        Ok(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            check_interval: DEFAULT_CHECK_INTERVAL,
            state: Mutex::new(State {
                current,
                stamp,
                last_check: Instant::now(),
            }),
        })
    }

    /// How often a handshake may look at the files. Default [`DEFAULT_CHECK_INTERVAL`];
    /// zero looks on every handshake.
    #[must_use]
    pub fn with_check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval;
        self
    }

    /// The certificate to serve: reloaded first if the check interval has passed and the
    /// files changed; the previous one if the new files do not load.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.last_check.elapsed() >= self.check_interval {
            state.last_check = Instant::now();
            let stamp = Stamp::read(&self.cert_path, &self.key_path);
            if stamp != state.stamp {
                state.stamp = stamp;
                match load(&self.cert_path, &self.key_path, &self.provider) {
                    Ok(loaded) => {
                        state.current = Arc::new(loaded);
                        tracing::info!(cert = %self.cert_path.display(), "reloaded the TLS certificate");
                    }
                    Err(err) => tracing::warn!(
                        error = %err,
                        "the TLS certificate files changed but do not load; serving the previous certificate"
                    ),
                }
            }
        }
        state.current.clone()
    }

    /// A rustls server configuration serving this resolver's certificate over TLS 1.2 and
    /// 1.3 with ALPN `http/1.1`, and no client certificates.
    ///
    /// # Errors
    /// [`TlsError::Config`] if rustls refuses the protocol versions of the provider.
    pub fn into_server_config(self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = self.provider.clone();
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(self));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadingCertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_error = |source| TlsError::Certificate {
        path: cert.to_owned(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(cert_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_error)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_owned(),
        source,
    })?;
    CertifiedKey::from_der(chain, key_der, provider).map_err(|source| TlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TempDir, openssl};

    #[test]
    fn reloading_cert_resolver_should_reload_changed_files_and_keep_the_old_on_bad_ones() {
        let pki = openssl::TestPki::new("tls-reload");
        let resolver = ReloadingCertResolver::new(&pki.server_cert, &pki.server_key)
            .unwrap()
            .with_check_interval(Duration::ZERO);
        let first = resolver.current().cert[0].clone();

        // A key that does not fit: refused, the first certificate stays.
        let (_other_cert, other_key) = pki.issue("other");
        std::fs::copy(&other_key, &pki.server_key).unwrap();
        assert_eq!(resolver.current().cert[0], first);

        // A new matching pair: served from the next handshake.
        let (new_cert, new_key) = pki.issue("renewed");
        std::fs::copy(&new_key, &pki.server_key).unwrap();
        std::fs::copy(&new_cert, &pki.server_cert).unwrap();
        let renewed = resolver.current().cert[0].clone();
        assert_ne!(renewed, first);
        assert_eq!(
            renewed,
            CertificateDer::pem_file_iter(&new_cert)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
        );
    }

    #[test]
    fn reloading_cert_resolver_should_name_the_bad_file() {
        let dir = TempDir::new("tls-bad");
        let not_pem = dir.write("cert.pem", "not a certificate\n");
        let key = dir.write("key.pem", "");
        assert_eq!(
            ReloadingCertResolver::new(&not_pem, &key)
                .unwrap_err()
                .to_string(),
            format!(
                "TLS certificate file `{}` holds no certificate: expected a PEM certificate \
                 chain (`-----BEGIN CERTIFICATE-----`)",
                not_pem.display()
            )
        );
        let pki = openssl::TestPki::new("tls-bad-key");
        assert_eq!(
            ReloadingCertResolver::new(&pki.server_cert, &key)
                .unwrap_err()
                .to_string(),
            format!(
                "TLS key file `{}` cannot be read (no items found): expected a PEM private key \
                 (PKCS#8, PKCS#1 or SEC1)",
                key.display()
            )
        );
    }
}
