//! TLS for the test API server: a throwaway certificate authority and a server certificate for
//! `127.0.0.1` and `localhost`, as a cluster's CA and serving certificate would be.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A certificate authority that exists only for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA whose certificate's common name is `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("self-signed CA");
        TestCa { issuer }
    }

    /// The CA certificate in PEM, what `K8S_CA` (a kubeconfig's `certificate-authority`) names.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `127.0.0.1` and `localhost` signed by this CA, and its key.
    fn server_certificate(&self, common_name: &str) -> (rcgen::Certificate, KeyPair) {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let mut params = CertificateParams::new(names).expect("server certificate parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        (cert, key)
    }

    /// A server certificate for `127.0.0.1` and `localhost` signed by this CA and its private
    /// key, both in PEM, for a server that reads them from files.
    pub fn server_pem(&self, common_name: &str) -> (String, String) {
        let (cert, key) = self.server_certificate(common_name);
        (cert.pem(), key.serialize_pem())
    }

    /// A TLS acceptor serving a certificate for `127.0.0.1` and `localhost` signed by this CA.
    pub(super) fn acceptor(&self) -> TlsAcceptor {
        let (cert, key) = self.server_certificate("kube-apiserver");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .expect("server TLS config");
        TlsAcceptor::from(Arc::new(config))
    }
}
