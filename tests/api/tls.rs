//! TLS with rustls: 1.2 and 1.3 are served (nothing older exists in rustls), with HSTS.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_with, Backend, TestDb};

struct Pki {
    ca: CertificateDer<'static>,
    _dir: tempfile::TempDir,
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
}

fn make_pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, leaf.pem()).unwrap();
    std::fs::write(&key_path, leaf_key.serialize_pem()).unwrap();
    Pki { ca: ca.der().clone(), _dir: dir, cert_path, key_path }
}

async fn fetch(
    port: u16,
    ca: &CertificateDer<'static>,
    version: &'static rustls::SupportedProtocolVersion,
) -> (String, rustls::ProtocolVersion) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let negotiated = tls.get_ref().1.protocol_version().unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    (String::from_utf8_lossy(&out).to_string(), negotiated)
}

#[actix_web::test]
async fn tls_serves_1_2_and_1_3_with_hsts() {
    let pki = make_pki();
    let (cert, key) = (pki.cert_path.clone(), pki.key_path.clone());
    let app = spawn_with(TestDb::fresh(Backend::Sqlite).unwrap(), move |s| {
        s.tls_cert = Some(cert);
        s.tls_key = Some(key);
    })
    .await;
    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let (answer, negotiated) = fetch(app.port, &pki.ca, version).await;
        assert_eq!(negotiated, expected);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("strict-transport-security: max-age="), "{answer}");
    }
    // Plain HTTP on the TLS port gets no answer an HTTP client could use.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out).await;
    assert!(!String::from_utf8_lossy(&out).contains("200 OK"));
}
