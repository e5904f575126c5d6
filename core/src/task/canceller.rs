//! A runtime's way to stop one task, stored without an allocation when it is
//! small (tokio's `AbortHandle` is one pointer).

use std::{fmt, mem::MaybeUninit, ptr};

/// A type-erased `FnOnce() + Send` kept inline in one machine word when it
/// fits (size and alignment at most a pointer's), boxed otherwise.
///
/// It lives in the registry's entry for the task, so the tokio adapter can
/// install `AbortHandle::abort` after spawning without allocating per task.
pub(crate) struct Canceller {
    /// Holds either the closure itself or a `Box` of it, as the vtable says.
    data: MaybeUninit<usize>,
    vtable: &'static VTable,
}

struct VTable {
    /// Moves the closure out of `data` and runs it.
    call: unsafe fn(*mut MaybeUninit<usize>),
    /// Drops the closure in `data` without running it.
    drop: unsafe fn(*mut MaybeUninit<usize>),
}

/// The closure is stored inline in `data`.
struct Inline<F>(F);
/// The closure is stored as a `Box<F>` in `data`.
struct Boxed<F>(F);

impl<F: FnOnce() + Send + 'static> Inline<F> {
    const FITS: bool =
        size_of::<F>() <= size_of::<usize>() && align_of::<F>() <= align_of::<MaybeUninit<usize>>();
    const VTABLE: VTable = VTable {
        call: Self::call,
        drop: Self::drop,
    };

    /// # Safety
    ///
    /// `data` holds an `F` written by [`Canceller::new`] and not yet moved
    /// out; it is moved out here.
    unsafe fn call(data: *mut MaybeUninit<usize>) {
        // SAFETY: per this function's contract; `FITS` guaranteed the
        // alignment when the value was written.
        let f = unsafe { ptr::read(data.cast::<F>()) };
        f();
    }

    /// # Safety
    ///
    /// As for [`Inline::call`].
    unsafe fn drop(data: *mut MaybeUninit<usize>) {
        // SAFETY: as in `call`.
        unsafe { ptr::drop_in_place(data.cast::<F>()) };
    }
}

impl<F: FnOnce() + Send + 'static> Boxed<F> {
    const VTABLE: VTable = VTable {
        call: Self::call,
        drop: Self::drop,
    };

    /// # Safety
    ///
    /// `data` holds a `Box<F>` written by [`Canceller::new`] and not yet
    /// moved out; it is moved out here.
    unsafe fn call(data: *mut MaybeUninit<usize>) {
        // SAFETY: per this function's contract (a `Box` is one word).
        let f = unsafe { ptr::read(data.cast::<Box<F>>()) };
        f();
    }

    /// # Safety
    ///
    /// As for [`Boxed::call`].
    unsafe fn drop(data: *mut MaybeUninit<usize>) {
        // SAFETY: as in `call`.
        unsafe { ptr::drop_in_place(data.cast::<Box<F>>()) };
    }
}

impl Canceller {
    pub(crate) fn new<F: FnOnce() + Send + 'static>(f: F) -> Self {
        let mut data = MaybeUninit::<usize>::uninit();
        if Inline::<F>::FITS {
            // SAFETY: `FITS` checked that an `F` fits in and is aligned
            // for `data`.
            unsafe { ptr::write(data.as_mut_ptr().cast::<F>(), f) };
            Self {
                data,
                vtable: &Inline::<F>::VTABLE,
            }
        } else {
            // SAFETY: a `Box` is one pointer: size and alignment of `usize`.
            unsafe { ptr::write(data.as_mut_ptr().cast::<Box<F>>(), Box::new(f)) };
            Self {
                data,
                vtable: &Boxed::<F>::VTABLE,
            }
        }
    }

    /// Runs the closure (at most once: it is consumed).
    pub(crate) fn call(self) {
        let mut this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `data` holds the value `vtable` was chosen for, and
        // `ManuallyDrop` keeps our `Drop` from dropping it again after
        // `call` moved it out.
        unsafe { (this.vtable.call)(&mut this.data) };
    }
}

impl Drop for Canceller {
    fn drop(&mut self) {
        // SAFETY: `data` still holds the value `vtable` was chosen for
        // (`call` consumes `self` without running this).
        unsafe { (self.vtable.drop)(&mut self.data) };
    }
}

// SAFETY: only `F: Send` are stored, and the value is only ever moved out
// and called or dropped, by whichever thread owns the `Canceller`.
unsafe impl Send for Canceller {}

impl fmt::Debug for Canceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceller").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::Canceller;

    /// Counts calls and drops of a closure of a given capture size.
    fn check<const WORDS: usize>() {
        let calls = Arc::new(AtomicUsize::new(0));
        let padding = [0usize; WORDS];
        let counter = Arc::clone(&calls);
        let canceller = Canceller::new(move || {
            let _ = padding;
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(Arc::strong_count(&calls), 2);
        canceller.call();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&calls), 1, "called closure not dropped");

        let counter = Arc::clone(&calls);
        let canceller = Canceller::new(move || {
            let _ = padding;
            counter.fetch_add(1, Ordering::SeqCst);
        });
        drop(canceller);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "dropped closure ran");
        assert_eq!(Arc::strong_count(&calls), 1, "closure leaked");
    }

    #[test]
    fn inline_and_boxed_closures_run_once_and_are_dropped() {
        check::<0>(); // one `Arc`: inline
        check::<3>(); // four words: boxed
    }
}
