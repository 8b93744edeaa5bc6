//! The one place HTTP clients are built: installs the TLS crypto provider (ring) first.

/// A reqwest builder ready for HTTPS (amoCRM) and plain HTTP (the mock on loopback).
pub fn client_builder() -> reqwest::ClientBuilder {
    // Installing twice is harmless: the second call reports the provider already present.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A client with default settings.
pub fn client() -> reqwest::Client {
    client_builder()
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
