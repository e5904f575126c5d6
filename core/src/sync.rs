//! The synchronisation primitives of the task hot path, swapped for loom's
//! model-checked ones under `--cfg monitor_loom` (see `core/tests/loom.rs`).
//!
//! Only what the poll, cancel, snapshot and retire paths share goes through
//! here; process-wide statics (the id counter, the clock) stay `std`, since
//! loom types cannot live in statics.

#[cfg(not(monitor_loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, fence},
};

#[cfg(monitor_loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, fence},
};

/// `std::cell::UnsafeCell` with loom's closure-based access API, so the same
/// code compiles against both.
#[cfg(not(monitor_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(monitor_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a shared pointer to the value.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a mutable pointer to the value.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(monitor_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Locks `mutex`, ignoring poisoning: every critical section of the task
/// paths leaves its data consistent at each step, so a panic inside one
/// (only possible in an allocation failure) cannot leave it half-written.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `T` alone on its cache line (two lines: x86's adjacent-line prefetcher
/// pulls pairs), so that a value one thread writes does not slow down
/// another thread writing its neighbour ("false sharing").
///
/// Used where the spawning thread and the thread that ends a task write
/// different data that would otherwise share a line: the registry's shards,
/// the history's cursor, a site's spawn-side and end-side counters. A task
/// spawned on one worker and run on another then moves only the lines it
/// really shares (see docs/PERFORMANCE.md, "Cache lines").
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CacheLine<T>(pub(crate) T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}
