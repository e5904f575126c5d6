//! The Unix socket transport.
#![cfg(unix)]

use std::{
    fs,
    os::unix::{
        fs::{FileTypeExt, PermissionsExt},
        net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    process,
    sync::atomic::{AtomicUsize, Ordering},
};

use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use monitor_core::transport::Transport;
use monitor_server::transport::{BindError, UnixTransport};

/// A fresh directory for one test, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mon-ut-{}-{n}", process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// What the directory holds, to catch leftover temporary files.
    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

fn is_socket(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[test]
fn accepts_and_echoes_through_the_trait() {
    let dir = Scratch::new();
    let path = dir.path("m.sock");
    let transport = UnixTransport::bind(&path).unwrap();
    assert_eq!(transport.path(), path);
    let transport: Box<dyn Transport> = Box::new(transport);
    assert_eq!(transport.local_addr(), format!("unix:{}", path.display()));

    future::block_on(async {
        let client = UnixStream::connect(&path).unwrap();
        let mut client = async_io::Async::new(client).unwrap();
        let mut conn = transport.accept().await.unwrap();
        assert_eq!(conn.peer, format!("unix:{}", path.display()));

        client.write_all(b"ps\n").await.unwrap();
        let mut buf = [0; 3];
        conn.stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ps\n");

        conn.stream.write_all(b"ok\r\n").await.unwrap();
        drop(conn);
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"ok\r\n");
    });
}

#[test]
fn socket_is_private_and_no_temporary_files_remain() {
    let dir = Scratch::new();
    let path = dir.path("m.sock");
    let _transport = UnixTransport::bind(&path).unwrap();
    assert!(is_socket(&path));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(dir.entries(), ["m.sock"]);
}

#[test]
fn path_at_the_length_limit_works_and_is_private() {
    // Too long for the temporary directory, so this takes the bind-then-chmod
    // fallback.
    let dir = Scratch::new();
    let prefix = dir.path("").into_os_string().into_string().unwrap();
    let name = "x".repeat(107 - prefix.len());
    let path = dir.path(&name);
    assert_eq!(path.as_os_str().len(), 107);

    let transport = UnixTransport::bind(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    UnixStream::connect(&path).unwrap();
    assert_eq!(dir.entries(), [name]);
    drop(transport);
    assert!(!path.exists());
}

#[test]
fn stale_socket_is_replaced() {
    let dir = Scratch::new();
    let path = dir.path("m.sock");
    // A listener that is dropped without removing its file, like a process
    // that crashed.
    drop(UnixListener::bind(&path).unwrap());
    assert!(is_socket(&path));

    let transport = UnixTransport::bind(&path).unwrap();
    future::block_on(async {
        let _client = UnixStream::connect(&path).unwrap();
        transport.accept().await.unwrap();
    });
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn live_socket_is_refused_and_keeps_working() {
    let dir = Scratch::new();
    let path = dir.path("m.sock");
    let live = UnixListener::bind(&path).unwrap();

    let err = UnixTransport::bind(&path).unwrap_err();
    assert!(matches!(err, BindError::SocketInUse { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("in use"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");

    // Its owner still gets connections (ours, from the probe, and new ones).
    let _client = UnixStream::connect(&path).unwrap();
    live.accept().unwrap();
}

#[test]
fn second_transport_on_the_same_path_is_refused() {
    let dir = Scratch::new();
    let path = dir.path("m.sock");
    let first = UnixTransport::bind(&path).unwrap();
    let err = UnixTransport::bind(&path).unwrap_err();
    assert!(matches!(err, BindError::SocketInUse { .. }), "{err:?}");
    // The failed attempt must not have removed the first one's socket.
    drop(err);
    assert!(is_socket(&path));
    drop(first);
    assert!(!path.exists());
}

#[test]
fn regular_file_is_refused_and_left_intact() {
    let dir = Scratch::new();
    let path = dir.path("notes.txt");
    fs::write(&path, "precious").unwrap();

    let err = UnixTransport::bind(&path).unwrap_err();
    assert!(matches!(err, BindError::NotASocket { .. }), "{err:?}");
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "precious");
    assert_eq!(dir.entries(), ["notes.txt"]);
}

#[test]
fn directory_and_symlink_are_refused() {
    let dir = Scratch::new();
    let sub = dir.path("sub");
    fs::create_dir(&sub).unwrap();
    assert!(matches!(
        UnixTransport::bind(&sub),
        Err(BindError::NotASocket { .. })
    ));
    assert!(sub.is_dir());

    // Even a link to a stale socket: following it would remove a file
    // elsewhere.
    let target = dir.path("target.sock");
    drop(UnixListener::bind(&target).unwrap());
    let link = dir.path("link.sock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(matches!(
        UnixTransport::bind(&link),
        Err(BindError::NotASocket { .. })
    ));
    assert!(is_socket(&target));
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn socket_file_is_removed_on_drop() {
    let dir = Scratch::new();
    let path = dir.path("m.sock");
    let transport = UnixTransport::bind(&path).unwrap();
    assert!(is_socket(&path));
    drop(transport);
    assert!(!path.exists());
    assert!(dir.entries().is_empty());
}

#[test]
fn replaced_file_is_not_removed_on_drop() {
    let dir = Scratch::new();
    let path = dir.path("m.sock");
    let transport = UnixTransport::bind(&path).unwrap();
    // Someone else took the path over meanwhile.
    fs::remove_file(&path).unwrap();
    let theirs = UnixListener::bind(&path).unwrap();
    drop(transport);
    assert!(is_socket(&path));
    let _client = UnixStream::connect(&path).unwrap();
    theirs.accept().unwrap();
}

#[test]
fn missing_directory_is_named() {
    let dir = Scratch::new();
    let missing = dir.path("nope");
    let path = missing.join("m.sock");
    let err = UnixTransport::bind(&path).unwrap_err();
    assert!(matches!(err, BindError::DirectoryMissing { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("directory {} does not exist", missing.display())),
        "{message}"
    );
    assert!(!missing.exists());
}

#[test]
fn overlong_path_is_refused_with_the_limit() {
    let path = PathBuf::from(format!("/tmp/{}", "y".repeat(200)));
    let err = UnixTransport::bind(&path).unwrap_err();
    assert!(
        matches!(err, BindError::PathTooLong { len: 205, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("too long for a Unix socket"), "{message}");
    assert!(message.contains("205 bytes"), "{message}");
}

#[test]
fn unwritable_directory_is_permission_denied() {
    let dir = Scratch::new();
    let locked = dir.path("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).unwrap();
    let result = UnixTransport::bind(locked.join("m.sock"));
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    match result {
        // Root ignores directory permissions.
        Ok(_) => {}
        Err(err @ BindError::PathPermissionDenied { .. }) => {
            assert!(err.to_string().contains("permission denied"), "{err}");
            assert!(fs::read_dir(&locked).unwrap().next().is_none());
        }
        Err(err) => panic!("unexpected error: {err:?}"),
    }
}
