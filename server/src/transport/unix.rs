//! Console connections over a Unix socket, for `nc -U /run/app.sock` and
//! `socat`: no port to allocate, and file permissions decide who may connect.

use std::{
    fmt, fs, io,
    os::unix::{
        fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt},
        net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    process,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use async_io::{Async, Timer};
use futures_lite::future;

use monitor_core::transport::{AcceptFuture, Connection, Transport};

use super::BindError;

/// Size of `sun_path` in `struct sockaddr_un`, including the terminating
/// NUL byte that the kernel wants room for.
#[cfg(any(target_os = "linux", target_os = "android"))]
const SUN_PATH_LEN: usize = 108;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SUN_PATH_LEN: usize = 104;

/// The longest socket path, in bytes, that fits into a socket address.
const MAX_PATH_LEN: usize = SUN_PATH_LEN - 1;

/// Only the owner may connect: the console can inspect (and cancel) tasks.
const SOCKET_MODE: u32 = 0o600;

/// How long to wait for an existing socket to answer before deciding that a
/// process is serving it (one with a full backlog does not answer at once).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How often to start over when another process creates the path while we
/// are setting up the socket.
const BIND_ATTEMPTS: usize = 3;

/// Accepts console connections on a Unix socket that only the owning user
/// may connect to.
///
/// The socket file is created with mode 0600 and removed again when the
/// transport is dropped. A socket file left behind by a crashed process is
/// replaced; one that a live process serves, and anything that is not a
/// socket, is left alone and reported as a [`BindError`].
///
/// # Example
///
/// ```no_run
/// use monitor_server::transport::UnixTransport;
///
/// let transport = UnixTransport::bind("/run/user/1000/app-monitor.sock")?;
/// // Connect with `nc -U /run/user/1000/app-monitor.sock`.
/// # Ok::<(), monitor_server::transport::BindError>(())
/// ```
#[must_use = "dropping a UnixTransport closes its socket and removes its path"]
pub struct UnixTransport {
    listener: Async<UnixListener>,
    path: PathBuf,
    /// Device and inode of the socket file we created, so that dropping the
    /// transport never removes a file someone else put at the path since.
    file_id: (u64, u64),
}

impl UnixTransport {
    /// Creates the socket file at `path` and starts listening on it.
    ///
    /// Binding happens right here, so problems are reported to the caller at
    /// once:
    ///
    /// * the directory does not exist ([`BindError::DirectoryMissing`]);
    /// * the path is too long for a socket address
    ///   ([`BindError::PathTooLong`]; 107 bytes on Linux);
    /// * a live process accepts connections on it
    ///   ([`BindError::SocketInUse`]);
    /// * it exists and is not a socket ([`BindError::NotASocket`]), which
    ///   includes symbolic links, even ones that point to a socket.
    ///
    /// A socket that refuses connections was left behind by a process that
    /// died without cleaning up; it is removed and replaced.
    ///
    /// # Permissions
    ///
    /// The socket is bound inside a fresh directory of mode 0700 next to
    /// `path`, made 0600 there, and then hard-linked to `path`. So nobody
    /// else can connect at any moment, even briefly, without changing the
    /// umask (which is process-wide and would race with other threads);
    /// and unlike `rename`, `link` never replaces a file that appeared at
    /// `path` in the meantime. If the temporary path would be too long, or
    /// the file system cannot hard-link, the socket is bound at `path`
    /// directly and made 0600 right after; until then it has the mode the
    /// umask gives, which with the usual umask 022 does not let others
    /// connect either (connecting needs write permission).
    pub fn bind(path: impl AsRef<Path>) -> Result<Self, BindError> {
        let path = path.as_ref();
        let len = path.as_os_str().len();
        if len > MAX_PATH_LEN {
            return Err(BindError::PathTooLong {
                path: path.to_owned(),
                len,
                max: MAX_PATH_LEN,
            });
        }
        let err = |source: io::Error| classify(path, source);

        let mut attempts = 0;
        let listener = loop {
            attempts += 1;
            clear_stale(path)?;
            match bind_private(path) {
                Ok(listener) => break listener,
                // Someone created the path since `clear_stale` looked at it:
                // look again, it may be a live server or a stale socket.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < BIND_ATTEMPTS => {
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(BindError::SocketInUse {
                        path: path.to_owned(),
                    });
                }
                Err(e) => return Err(err(e)),
            }
        };

        // From here on the socket file is ours: if we fail, remove it rather
        // than leave a stale socket behind.
        let registered = fs::symlink_metadata(path)
            .map(|meta| (meta.dev(), meta.ino()))
            .and_then(|file_id| Ok((Async::new(listener)?, file_id)));
        match registered {
            Ok((listener, file_id)) => Ok(UnixTransport {
                listener,
                path: path.to_owned(),
                file_id,
            }),
            Err(e) => {
                let _ = fs::remove_file(path);
                Err(err(e))
            }
        }
    }

    /// The path of the socket file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Turns an error about `path` into the [`BindError`] a person can act on.
fn classify(path: &Path, source: io::Error) -> BindError {
    let path = path.to_owned();
    match source.kind() {
        io::ErrorKind::NotFound => {
            let dir = parent_dir(&path).to_owned();
            BindError::DirectoryMissing { path, dir, source }
        }
        io::ErrorKind::PermissionDenied => BindError::PathPermissionDenied { path, source },
        // A concurrent process may have won the race for the path.
        io::ErrorKind::AddrInUse => BindError::SocketInUse { path },
        _ => BindError::Unix { path, source },
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes sure nothing is at `path`: removes a socket nobody serves, and
/// refuses everything else.
fn clear_stale(path: &Path) -> Result<(), BindError> {
    let err = |source: io::Error| classify(path, source);
    let before = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Report a missing directory before trying to bind, so the
            // message names the directory rather than a temporary path.
            let dir = parent_dir(path);
            return match fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => Ok(()),
                Ok(_) => Err(BindError::Unix {
                    path: path.to_owned(),
                    source: io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("{} is not a directory", dir.display()),
                    ),
                }),
                Err(e) => Err(err(e)),
            };
        }
        Err(e) => return Err(err(e)),
    };
    if !before.file_type().is_socket() {
        return Err(BindError::NotASocket {
            path: path.to_owned(),
        });
    }

    match probe(path) {
        Ok(()) => Err(BindError::SocketInUse {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            // Nobody listens: the socket outlived its process. Remove it
            // only if it is still the file we probed; if it changed, the
            // next bind attempt will look at the new one.
            match fs::symlink_metadata(path) {
                Ok(now) if now.dev() == before.dev() && now.ino() == before.ino() => {
                    match fs::remove_file(path) {
                        Ok(()) => Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                        Err(e) => Err(err(e)),
                    }
                }
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(err(e)),
            }
        }
        // Removed between our look and the probe: the path is free.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(e)),
    }
}

/// Connects to the socket at `path` to find out whether a process serves it.
///
/// A non-blocking connect with a timeout, because a blocking one would hang
/// on a live server whose backlog is full; such a server counts as live.
/// The probe disconnects at once, so a live server sees a client that says
/// nothing and leaves.
fn probe(path: &Path) -> io::Result<()> {
    future::block_on(future::or(
        async {
            let _stream = Async::<UnixStream>::connect(path).await?;
            Ok(())
        },
        async {
            Timer::after(PROBE_TIMEOUT).await;
            Ok(())
        },
    ))
}

/// Numbers temporary directories of concurrent binds in one process.
static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Creates a listening socket of mode [`SOCKET_MODE`] at `path`, which must
/// not exist. See [`UnixTransport::bind`] for why it goes through a private
/// directory.
///
/// An [`io::ErrorKind::AlreadyExists`] error means that something appeared
/// at `path` meanwhile; the caller decides what to do about it.
fn bind_private(path: &Path) -> io::Result<UnixListener> {
    let dir = parent_dir(path);
    let mut created = None;
    for _ in 0..16 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        // Short, so that the socket path inside still fits `sun_path`.
        let candidate = dir.join(format!(".mon{:x}.{n:x}", process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&candidate) {
            Ok(()) => {
                created = Some(candidate);
                break;
            }
            // Left over by a crashed process with a recycled pid.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    let Some(temp_dir) = created else {
        return bind_direct(path);
    };
    let temp_dir = TempDir(temp_dir);
    let temp_sock = temp_dir.0.join("s");
    if temp_sock.as_os_str().len() > MAX_PATH_LEN {
        return bind_direct(path);
    }

    let listener = UnixListener::bind(&temp_sock)?;
    fs::set_permissions(&temp_sock, fs::Permissions::from_mode(SOCKET_MODE))?;
    match fs::hard_link(&temp_sock, path) {
        Ok(()) => Ok(listener),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        // No hard links here (some FUSE or network file systems).
        Err(_) => {
            drop(listener);
            bind_direct(path)
        }
    }
    // `temp_dir` is removed with the temporary name in it; the socket lives
    // on under `path`.
}

/// The fallback of [`bind_private`]: binds at `path` and restricts the mode
/// right away (see [`UnixTransport::bind`] for the window this leaves).
fn bind_direct(path: &Path) -> io::Result<UnixListener> {
    let listener = UnixListener::bind(path).map_err(|e| match e.kind() {
        // `bind` says "address in use" when the file exists; the caller
        // treats that like a failed hard link.
        io::ErrorKind::AddrInUse => io::Error::new(io::ErrorKind::AlreadyExists, e),
        _ => e,
    })?;
    if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(SOCKET_MODE)) {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

/// A temporary directory that is removed, with everything in it, on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover hidden directory is harmless and gets a
        // different name next time.
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Drop for UnixTransport {
    fn drop(&mut self) {
        // Remove the socket only if it is still ours: another process may
        // have replaced it (say, after deciding ours was stale), and its
        // socket must survive us.
        if let Ok(meta) = fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.file_id
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl fmt::Debug for UnixTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixTransport")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Transport for UnixTransport {
    fn accept(&self) -> AcceptFuture<'_> {
        Box::pin(async move {
            // Clients of a path socket are normally unnamed, so the path they
            // connected to is the most useful name for them.
            let (stream, _) = self.listener.accept().await?;
            Ok(Connection {
                stream: Box::new(stream),
                peer: format!("unix:{}", self.path.display()),
            })
        })
    }

    fn local_addr(&self) -> String {
        format!("unix:{}", self.path.display())
    }

    /// The socket has mode 0600: only the process's user (and root) connect.
    fn is_local(&self) -> bool {
        true
    }
}
