//! HTTPS for the gateway: rustls with the ring provider only, ALPN h2 and
//! http/1.1.

use crate::engine::error::EngineError;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, EngineError> {
    let fail = |what: &Path, e: &dyn std::fmt::Display| {
        EngineError::invalid(format!("gateway.tls: {}: {e}", what.display()))
    };
    let certs = rustls_pemfile::certs(&mut BufReader::new(
        File::open(cert).map_err(|e| fail(cert, &e))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| fail(cert, &e))?;
    if certs.is_empty() {
        return Err(fail(cert, &"no PEM certificate in the file"));
    }
    let key_der = rustls_pemfile::private_key(&mut BufReader::new(
        File::open(key).map_err(|e| fail(key, &e))?,
    ))
    .map_err(|e| fail(key, &e))?
    .ok_or_else(|| fail(key, &"no PEM private key in the file"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| fail(cert, &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
