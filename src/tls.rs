//! TLS for the connections keyleak opens itself (Socket Mode's `wss://`, GitHub's REST API),
//! with ring named as the provider: both ring and aws-lc-rs are linked, so rustls cannot
//! choose by itself. The system's roots are trusted.

use std::sync::Arc;

pub fn client_config() -> std::io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}
