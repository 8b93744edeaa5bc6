//! The one place TLS is set up: installs the crypto provider (ring) and builds HTTP clients.

/// Installs ring as the process-wide rustls provider; later calls are no-ops.
pub(crate) fn install_crypto() {
    // Installing twice is harmless: the second call reports the provider already present.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest builder ready for HTTPS (amoCRM) and plain HTTP (the mock on loopback).
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto();
    reqwest::Client::builder()
}

/// Pairs form-encoded in order (`a=1&b=%2B7`): a query string as reqwest sends it, and a
/// Sipuni event line.
pub(crate) fn form_encode(pairs: &[(&str, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// A client with default settings.
pub fn client() -> reqwest::Client {
    client_builder()
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
