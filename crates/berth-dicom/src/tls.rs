//! DICOM TLS (PS3.15 Annex B, the BCP 195 profile): the listener's rustls configuration from
//! `[dicom] tls_certificate`, `tls_key` and, for mutual authentication, `tls_client_ca`.
//! rustls with the ring provider, as the rest of berth (no C toolchain for aws-lc).

use std::path::Path;
use std::sync::Arc;

use berth_config::DicomConfig;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::DicomError;

fn setting(key: &str, path: &Path, reason: impl std::fmt::Display) -> DicomError {
    DicomError::Setting { key: key.to_owned(), value: path.display().to_string(), reason: reason.to_string() }
}

fn certificates(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, DicomError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| setting(key, path, format_args!("cannot be read as PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(setting(key, path, "holds no certificate"));
    }
    Ok(certs)
}

/// The listener's TLS configuration, or `None` when `tls_certificate` and `tls_key` are not set.
pub fn server_config(config: &DicomConfig) -> Result<Option<Arc<rustls::ServerConfig>>, DicomError> {
    let (cert_path, key_path) = match (&config.tls_certificate, &config.tls_key) {
        (None, None) => {
            if let Some(ca) = &config.tls_client_ca {
                return Err(setting("[dicom] tls_client_ca", ca, "needs `tls_certificate` and `tls_key`"));
            }
            return Ok(None);
        }
        (Some(c), Some(k)) => (c, k),
        (Some(c), None) => return Err(setting("[dicom] tls_certificate", c, "needs `tls_key` too")),
        (None, Some(k)) => return Err(setting("[dicom] tls_key", k, "needs `tls_certificate` too")),
    };
    let certs = certificates("[dicom] tls_certificate", cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| setting("[dicom] tls_key", key_path, format_args!("cannot be read as a PEM private key ({e})")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| setting("[dicom] tls_certificate", cert_path, e))?;
    let builder = match &config.tls_client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certificates("[dicom] tls_client_ca", ca)? {
                roots.add(c).map_err(|e| setting("[dicom] tls_client_ca", ca, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| setting("[dicom] tls_client_ca", ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| setting("[dicom] tls_key", key_path, format_args!("does not go with the certificate ({e})")))?;
    Ok(Some(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_keys_come_in_pairs_and_must_read() {
        let none = DicomConfig::default();
        assert!(server_config(&none).expect("no tls").is_none());
        let only_cert = DicomConfig { tls_certificate: Some("/x.crt".into()), ..Default::default() };
        assert!(
            matches!(server_config(&only_cert), Err(DicomError::Setting { key, .. }) if key == "[dicom] tls_certificate")
        );
        let only_ca = DicomConfig { tls_client_ca: Some("/ca.crt".into()), ..Default::default() };
        assert!(
            matches!(server_config(&only_ca), Err(DicomError::Setting { key, .. }) if key == "[dicom] tls_client_ca")
        );
        let t = tempfile::tempdir().expect("tmp");
        std::fs::write(t.path().join("empty.crt"), "").expect("write");
        let unreadable = DicomConfig {
            tls_certificate: Some(t.path().join("empty.crt")),
            tls_key: Some(t.path().join("missing.key")),
            ..Default::default()
        };
        assert!(
            matches!(server_config(&unreadable), Err(DicomError::Setting { key, .. }) if key == "[dicom] tls_certificate")
        );
    }
}
