//! The client's TLS configurations, built from a request's `validate_cert`,
//! `ca_certs` and `client_cert`/`client_key` (or taken whole from its
//! `tls`), and cached per client since building a root store is not free.
//!
//! The built-in roots are Mozilla's, compiled in through `webpki-roots`,
//! not the system store (`rustls-native-certs`): the same roots on every
//! machine and in every container (many have no CA bundle installed), no
//! file read at run time, and certificate checks that a test can rely on.
//! A deployment that must trust the system's or a private CA gives
//! `ca_certs` (a PEM file) or a complete `tls` configuration.

use std::collections::HashMap;
use std::sync::Arc;

use tornado_iostream::tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tornado_iostream::tls::rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use tornado_iostream::tls::rustls::pki_types::pem::PemObject;
use tornado_iostream::tls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, ServerName, UnixTime,
};
use tornado_iostream::tls::rustls::{self, ClientConfig, RootCertStore};

use super::error::{HttpClientError, HttpClientErrorKind};
use super::request::HttpRequest;

/// Client configurations by their settings.
#[derive(Default)]
pub(crate) struct TlsCache {
    configs: HashMap<String, Arc<ClientConfig>>,
}

/// What makes two requests' TLS settings the same (part of the pool key).
pub(crate) fn tls_key(r: &HttpRequest) -> String {
    if let Some(c) = &r.tls {
        return format!("config@{:p}", Arc::as_ptr(c));
    }
    format!(
        "validate={} ca={:?} cert={:?} key={:?}",
        r.validate_cert, r.ca_certs, r.client_cert, r.client_key
    )
}

impl TlsCache {
    /// The configuration for `r`'s settings, built on first use.
    pub(crate) fn config_for(
        &mut self,
        r: &HttpRequest,
    ) -> Result<Arc<ClientConfig>, HttpClientError> {
        if let Some(c) = &r.tls {
            return Ok(c.clone());
        }
        let key = tls_key(r);
        if let Some(c) = self.configs.get(&key) {
            return Ok(c.clone());
        }
        let config = Arc::new(build(r)?);
        self.configs.insert(key, config.clone());
        Ok(config)
    }
}

fn tls_error(message: String) -> HttpClientError {
    HttpClientError::new(HttpClientErrorKind::Tls, message)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a configuration: the roots (built-in or `ca_certs`), or no
/// certificate check at all, and the client certificate if any.
fn build(r: &HttpRequest) -> Result<ClientConfig, HttpClientError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("TLS versions: {e}")))?;
    let builder = if r.validate_cert {
        let mut roots = RootCertStore::empty();
        match &r.ca_certs {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| tls_error(format!("ca_certs {}: {e}", path.display())))?;
                for cert in certs {
                    let cert =
                        cert.map_err(|e| tls_error(format!("ca_certs {}: {e}", path.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| tls_error(format!("ca_certs {}: {e}", path.display())))?;
                }
                if roots.is_empty() {
                    return Err(tls_error(format!(
                        "ca_certs {}: no certificate",
                        path.display()
                    )));
                }
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert {
                algorithms: provider.signature_verification_algorithms,
            }))
    };
    let mut config = match (&r.client_cert, &r.client_key) {
        (Some(cert), key) => {
            let key_path = key.as_ref().unwrap_or(cert);
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| tls_error(format!("client_cert {}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|e| tls_error(format!("client_key {}: {e}", key_path.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_error(format!("client certificate: {e}")))?
        }
        (None, _) => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `validate_cert = false`: any certificate is taken, but the handshake's
/// signatures are still checked, so the session is at least with the
/// holder of the certificate's key.
#[derive(Debug)]
struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_cached_by_settings_and_files_checked() {
        let mut cache = TlsCache::default();
        let a = cache
            .config_for(&HttpRequest::with_url("https://x/"))
            .unwrap();
        let b = cache
            .config_for(&HttpRequest::with_url("https://y/"))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache
            .config_for(&HttpRequest::with_url("https://x/").validate_cert(false))
            .unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        let e = cache
            .config_for(&HttpRequest::with_url("https://x/").ca_certs("/nonexistent/ca.pem"))
            .unwrap_err();
        assert_eq!(e.kind, HttpClientErrorKind::Tls);
    }
}
