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

/// The lock of one task's frame tree: taken for a few instructions when a
/// marked call starts or ends, and by the monitor for the copy of a tree.
///
/// A spin lock rather than `std::sync::Mutex` because the hot path is an
/// uncontended lock and unlock per marked call: here that is one locked
/// instruction and one plain release store, where the futex mutex needs two
/// locked instructions (its unlock must swap to learn about sleepers). The
/// holders never block while holding it, so a waiter spins briefly and then
/// yields its time slice instead of burning it.
#[cfg(not(monitor_loom))]
pub(crate) struct TreeLock<T> {
    locked: std::sync::atomic::AtomicBool,
    value: std::cell::UnsafeCell<T>,
}

// SAFETY: the value is only reached through a `TreeGuard`, which exists
// for one thread at a time (the `locked` flag, acquired and released with
// acquire/release ordering, hands the value over between threads).
#[cfg(not(monitor_loom))]
unsafe impl<T: Send> Sync for TreeLock<T> {}

/// Access to a [`TreeLock`]'s value; unlocks when dropped.
#[cfg(not(monitor_loom))]
pub(crate) struct TreeGuard<'a, T>(&'a TreeLock<T>);

#[cfg(not(monitor_loom))]
impl<T> TreeLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: std::sync::atomic::AtomicBool::new(false),
            value: std::cell::UnsafeCell::new(value),
        }
    }

    #[inline]
    fn try_acquire(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[cold]
    fn acquire_contended(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(std::sync::atomic::Ordering::Relaxed) {
                if spins < 64 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    // The holder may have been preempted: let it run.
                    std::thread::yield_now();
                }
            }
            if self.try_acquire() {
                return;
            }
        }
    }
}

/// Locks a tree.
#[cfg(not(monitor_loom))]
#[inline]
pub(crate) fn lock_tree<T>(lock: &TreeLock<T>) -> TreeGuard<'_, T> {
    if !lock.try_acquire() {
        lock.acquire_contended();
    }
    TreeGuard(lock)
}

#[cfg(not(monitor_loom))]
impl<T> std::ops::Deref for TreeGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.0.value.get() }
    }
}

#[cfg(not(monitor_loom))]
impl<T> std::ops::DerefMut for TreeGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the
        // only reference through it.
        unsafe { &mut *self.0.value.get() }
    }
}

#[cfg(not(monitor_loom))]
impl<T> Drop for TreeGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.0
            .locked
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Under loom the tree lock is loom's mutex, so the model checker explores
/// every order in which the app and the monitor take it.
#[cfg(monitor_loom)]
pub(crate) type TreeLock<T> = Mutex<T>;

/// Locks a tree.
#[cfg(monitor_loom)]
pub(crate) fn lock_tree<T>(tree: &TreeLock<T>) -> MutexGuard<'_, T> {
    lock(tree)
}
