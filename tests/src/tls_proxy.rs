//! A TLS front for the test broker. tansu 0.6.0 speaks no TLS (its `--cert`
//! option builds an acceptor it never uses), so the Kafka TLS tests put this
//! proxy before it, as a TLS-terminating load balancer would stand, and
//! start tansu advertising the proxy's port: every connection a client
//! makes, the bootstrap and each broker connection after it, is TLS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

pub struct TlsProxy {
    pub port: u16,
    handshakes: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsProxy {
    /// Listens on a free loopback port, presenting `cert_pem`; each
    /// connection, once its handshake succeeds, is relayed to `upstream`.
    pub fn start(cert_pem: &str, key_pem: &str, upstream: u16) -> Self {
        let acceptor = TlsAcceptor::from(crate::certificates::server_config(cert_pem, key_pem));
        let (runtime, listener) = crate::live::local_server();
        let port = listener.local_addr().expect("local address").port();
        let handshakes: Arc<AtomicUsize> = Arc::default();
        let counted = handshakes.clone();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counted = counted.clone();
                tokio::spawn(async move {
                    // A client that fails the handshake (no TLS, or it
                    // refused the certificate) is dropped, as a broker would.
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut broker) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                });
            }
        });
        Self {
            port,
            handshakes,
            _runtime: runtime,
        }
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}
