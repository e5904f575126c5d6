//! The TCP transport, through the `Transport` trait as the server uses it.

use std::{
    error::Error as _,
    io,
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use async_io::Async;
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use monitor_core::transport::Transport;
use monitor_server::transport::{BindError, TcpTransport};

fn localhost_any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn accepts_and_echoes_through_the_trait() {
    let transport = TcpTransport::bind(localhost_any_port()).unwrap();
    let addr = transport.local_addr();
    let transport: Box<dyn Transport> = Box::new(transport);
    assert_eq!(transport.local_addr(), addr.to_string());

    future::block_on(async {
        let (client, conn) =
            future::zip(Async::<TcpStream>::connect(addr), transport.accept()).await;
        let mut client = client.unwrap();
        let mut conn = conn.unwrap();
        assert_eq!(
            conn.peer,
            client.get_ref().local_addr().unwrap().to_string()
        );

        client.write_all(b"ps\r\n").await.unwrap();
        let mut buf = [0; 4];
        conn.stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ps\r\n");

        conn.stream.write_all(b"no tasks\r\n").await.unwrap();
        conn.stream.close().await.unwrap();
        drop(conn);
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"no tasks\r\n");
    });
}

#[test]
fn serves_several_clients_one_after_another() {
    let transport = TcpTransport::bind(localhost_any_port()).unwrap();
    let addr = transport.local_addr();
    future::block_on(async {
        let first = TcpStream::connect(addr).unwrap();
        let second = TcpStream::connect(addr).unwrap();
        let a = transport.accept().await.unwrap();
        let b = transport.accept().await.unwrap();
        assert_eq!(a.peer, first.local_addr().unwrap().to_string());
        assert_eq!(b.peer, second.local_addr().unwrap().to_string());
    });
}

#[test]
fn port_zero_reports_the_real_port() {
    let transport = TcpTransport::bind(localhost_any_port()).unwrap();
    let addr = transport.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    // The port really is ours.
    TcpStream::connect(addr).unwrap();
}

#[test]
fn busy_port_is_reported_at_once_with_advice() {
    let first = TcpTransport::bind(localhost_any_port()).unwrap();
    let addr = first.local_addr();

    let started = Instant::now();
    let err = TcpTransport::bind(addr).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );

    assert!(
        matches!(err, BindError::AddrInUse { addr: a, .. } if a == addr),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&addr.to_string()), "{message}");
    assert!(message.contains("in use"), "{message}");
    assert!(message.contains("port 0"), "{message}");
    let source = err.source().unwrap().downcast_ref::<io::Error>().unwrap();
    assert_eq!(source.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn port_can_be_bound_again_right_after_close() {
    let transport = TcpTransport::bind(localhost_any_port()).unwrap();
    let addr = transport.local_addr();
    future::block_on(async {
        let mut client = Async::<TcpStream>::connect(addr).await.unwrap();
        let mut conn = transport.accept().await.unwrap();
        conn.stream.write_all(b"bye\r\n").await.unwrap();
        // The server closes first, which leaves its side of the connection
        // in TIME_WAIT: the case SO_REUSEADDR exists for.
        drop(conn);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"bye\r\n");
    });
    drop(transport);

    let again = TcpTransport::bind(addr).unwrap();
    assert_eq!(again.local_addr(), addr);
}

#[test]
fn foreign_address_is_not_available() {
    // TEST-NET-1 (RFC 5737) is never assigned to a local interface.
    let addr: SocketAddr = "192.0.2.1:0".parse().unwrap();
    let err = TcpTransport::bind(addr).unwrap_err();
    assert!(matches!(err, BindError::AddrNotAvailable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("192.0.2.1:0"), "{message}");
    assert!(
        message.contains("not available on this machine"),
        "{message}"
    );
}

#[test]
fn privileged_port_explains_itself() {
    // Root, or a system that lowered `net.ipv4.ip_unprivileged_port_start`
    // (containers often do), may bind port 1; then there is nothing to check.
    match TcpTransport::bind("127.0.0.1:1".parse().unwrap()) {
        Ok(_) => {}
        Err(err @ BindError::PermissionDenied { .. }) => {
            assert!(
                err.to_string().contains("ports below 1024 need privileges"),
                "{err}"
            );
        }
        Err(err) => panic!("unexpected error: {err:?}"),
    }
}

#[test]
fn ipv6_peer_is_formatted_with_brackets() {
    let Ok(transport) = TcpTransport::bind("[::1]:0".parse().unwrap()) else {
        return; // No IPv6 loopback on this machine.
    };
    let addr = transport.local_addr();
    assert_eq!(
        Transport::local_addr(&transport),
        format!("[::1]:{}", addr.port())
    );
    future::block_on(async {
        let client = TcpStream::connect(addr).unwrap();
        let conn = transport.accept().await.unwrap();
        assert_eq!(conn.peer, client.local_addr().unwrap().to_string());
        assert!(conn.peer.starts_with("[::1]:"), "{}", conn.peer);
    });
}
