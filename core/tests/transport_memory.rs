//! The in-memory transport.

use std::io;

use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use monitor_core::transport::{MemoryStream, MemoryTransport, Transport};

#[test]
fn round_trip_through_the_trait() {
    let (transport, connector) = MemoryTransport::new();
    let transport: Box<dyn Transport> = Box::new(transport);
    assert_eq!(transport.local_addr(), "memory");

    future::block_on(async {
        let mut client = connector.connect().unwrap();
        let mut conn = transport.accept().await.unwrap();
        assert_eq!(conn.peer, "memory#1");

        client.write_all(b"tasks\n").await.unwrap();
        let mut buf = [0; 6];
        conn.stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"tasks\n");

        conn.stream.write_all(b"none\r\n").await.unwrap();
        conn.stream.close().await.unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, "none\r\n");
    });
}

#[test]
fn peers_are_numbered_across_clones() {
    let (transport, connector) = MemoryTransport::new();
    let other = connector.clone();
    let _a = connector.connect().unwrap();
    let _b = other.connect().unwrap();
    let _c = connector.connect().unwrap();
    future::block_on(async {
        for expected in ["memory#1", "memory#2", "memory#3"] {
            assert_eq!(transport.accept().await.unwrap().peer, expected);
        }
    });
}

#[test]
fn accept_fails_with_not_connected_once_connectors_are_gone() {
    let (transport, connector) = MemoryTransport::new();
    let clone = connector.clone();
    let _client = connector.connect().unwrap();
    drop(connector);
    future::block_on(async {
        // A clone keeps the transport open.
        let _late = clone.connect().unwrap();
        drop(clone);
        // Connections queued before the last connector went are served...
        assert_eq!(transport.accept().await.unwrap().peer, "memory#1");
        assert_eq!(transport.accept().await.unwrap().peer, "memory#2");
        // ...then the transport is finished, for good.
        for _ in 0..2 {
            let err = transport.accept().await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotConnected);
        }
    });
}

#[test]
fn connect_after_the_transport_is_dropped_is_refused() {
    let (transport, connector) = MemoryTransport::new();
    drop(transport);
    let err = connector.connect().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn dropping_one_end_gives_eof_and_broken_pipe() {
    let (mut a, b) = MemoryStream::pair();
    future::block_on(async {
        a.write_all(b"last words").await.unwrap();
        let mut b = b;
        b.write_all(b"reply").await.unwrap();
        drop(a);
        // Buffered bytes survive the writer.
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"last words");
        let err = b.write_all(b"anyone?").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn transfers_more_than_the_pipe_holds() {
    let (mut a, mut b) = MemoryStream::pair();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    future::block_on(async {
        let write = async {
            a.write_all(&data).await.unwrap();
            a.close().await.unwrap();
        };
        let read = async {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        };
        let ((), got) = future::zip(write, read).await;
        assert_eq!(got, data);
    });
}
