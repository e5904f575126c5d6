//! Values the console may change.

use std::{
    fmt::Display,
    str::FromStr,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{
            AtomicBool, AtomicI32, AtomicI64, AtomicU8, AtomicU16, AtomicU32, AtomicU64,
            AtomicUsize, Ordering,
        },
    },
};

/// A value the console can read and replace from text.
///
/// Implemented for shared atomics and for `Arc<RwLock<T>>` / `Arc<Mutex<T>>`
/// where `T: FromStr + Display`. `set` must either apply the whole new value
/// or leave the old one untouched.
///
/// ```
/// use std::sync::{Arc, RwLock};
/// use monitor_server::console::Tunable;
///
/// let level = Arc::new(RwLock::new(String::from("info")));
/// level.set("debug").unwrap();
/// assert_eq!(Tunable::get(&level), "debug");
///
/// let workers = Arc::new(RwLock::new(4u16));
/// assert!(workers.set("many").is_err());
/// assert_eq!(workers.get(), "4");
/// ```
pub trait Tunable: Send + Sync + 'static {
    /// The current value as text.
    fn get(&self) -> String;
    /// Parses `text` and stores it; on error returns why, keeping the old
    /// value.
    ///
    /// # Errors
    ///
    /// The parse error, in words a person can act on.
    fn set(&self, text: &str) -> Result<(), String>;
    /// The type's name, shown in `ls` and in errors (`u64`, `bool`, …).
    fn type_name(&self) -> &'static str;
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    // `alloc::string::String` → `String`; generic parameters stay intact.
    match full.find('<') {
        Some(_) => full,
        None => full.rsplit("::").next().unwrap_or(full),
    }
}

impl<T> Tunable for Arc<RwLock<T>>
where
    T: FromStr + Display + Send + Sync + 'static,
    T::Err: Display,
{
    fn get(&self) -> String {
        self.read().unwrap_or_else(|e| e.into_inner()).to_string()
    }

    fn set(&self, text: &str) -> Result<(), String> {
        // Parse before locking: a bad value never touches the old one.
        let value = text.parse::<T>().map_err(|err| err.to_string())?;
        *self.write().unwrap_or_else(|e| e.into_inner()) = value;
        Ok(())
    }

    fn type_name(&self) -> &'static str {
        short_type_name::<T>()
    }
}

impl<T> Tunable for Arc<Mutex<T>>
where
    T: FromStr + Display + Send + 'static,
    T::Err: Display,
{
    fn get(&self) -> String {
        self.lock().unwrap_or_else(|e| e.into_inner()).to_string()
    }

    fn set(&self, text: &str) -> Result<(), String> {
        let value = text.parse::<T>().map_err(|err| err.to_string())?;
        *self.lock().unwrap_or_else(|e| e.into_inner()) = value;
        Ok(())
    }

    fn type_name(&self) -> &'static str {
        short_type_name::<T>()
    }
}

macro_rules! atomic_tunable {
    ($($atomic:ty => $value:ty),* $(,)?) => {$(
        impl Tunable for Arc<$atomic> {
            fn get(&self) -> String {
                self.load(Ordering::Relaxed).to_string()
            }

            fn set(&self, text: &str) -> Result<(), String> {
                let value = text.trim().parse::<$value>().map_err(|err| err.to_string())?;
                self.store(value, Ordering::Relaxed);
                Ok(())
            }

            fn type_name(&self) -> &'static str {
                stringify!($value)
            }
        }
    )*};
}

atomic_tunable! {
    AtomicBool => bool,
    AtomicU8 => u8,
    AtomicU16 => u16,
    AtomicU32 => u32,
    AtomicU64 => u64,
    AtomicUsize => usize,
    AtomicI32 => i32,
    AtomicI64 => i64,
}
