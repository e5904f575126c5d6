//! The synchronisation primitives frames use: std's, or loom's when the
//! crate is built with `--cfg monitor_loom` for the model-checking tests
//! (`tests/loom_frames.rs`). A cfg of our own rather than `--cfg loom`,
//! which would switch dependencies such as `concurrent-queue` to loom too.

#[cfg(monitor_loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(monitor_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(monitor_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// `std::cell::UnsafeCell` with loom's closure-based access API, so the
/// same code compiles against both.
#[cfg(not(monitor_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(monitor_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Locks `mutex`. The data frames keep under a lock is consistent after
/// every single statement that changes it (nothing under these locks can
/// panic half-way), so a lock poisoned by an unrelated panic is still
/// usable: the host application must not start panicking because of us.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
