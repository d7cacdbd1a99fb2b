//! A value read once and handed to every caller that asks soon after, until something says it
//! changed.
//!
//! The controller reconciles many agents in bursts (a resync, a City change), and each wants
//! the same expensive reading of the world: the applied resources, the list of sessions.
//! Reading it once per burst instead of once per agent keeps an idle city of hundreds of
//! agents cheap. A [`Kept`] value is handed out only while it is younger than the sharing
//! window and no change was reported since it was read; a reading that overlaps a change is
//! stale at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One kept reading; see the module documentation.
#[derive(Debug, Default)]
pub struct Kept<T> {
    /// How many changes were reported so far.
    changes: AtomicU64,
    /// How long a reading may be handed out (zero: never kept).
    window_ms: AtomicU64,
    last: Mutex<Option<Reading<T>>>,
}

#[derive(Debug)]
struct Reading<T> {
    read_at: Instant,
    changes: u64,
    value: T,
}

impl<T: Clone> Kept<T> {
    /// Hands a reading out for up to `window` after it was read (zero switches keeping off).
    pub fn share_for(&self, window: Duration) {
        self.window_ms.store(window.as_millis() as u64, Ordering::Relaxed);
    }

    /// Says the world changed: the kept reading is not handed out again.
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// The kept reading if it is still good, else a new one from `read` (then kept).
    pub fn get_or_read<E>(&self, read: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let window = Duration::from_millis(self.window_ms.load(Ordering::Relaxed));
        if window.is_zero() {
            return read();
        }
        // One reader at a time: the callers of a burst wait for the first one's reading
        // instead of all reading at once.
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        // Counted before reading: a change that lands while `read` runs makes it stale.
        let changes = self.changes.load(Ordering::SeqCst);
        if let Some(r) = last.as_ref()
            && r.changes == changes
            && r.read_at.elapsed() < window
        {
            return Ok(r.value.clone());
        }
        let read_at = Instant::now();
        let value = read()?;
        *last = Some(Reading { read_at, changes, value: value.clone() });
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_reading_is_handed_out_until_a_change_or_the_window_ends() {
        let kept = Kept::<u32>::default();
        let reads = Cell::new(0);
        let read = || -> Result<u32, ()> {
            reads.set(reads.get() + 1);
            Ok(reads.get())
        };
        // Off by default: every call reads.
        assert_eq!(kept.get_or_read(read), Ok(1));
        assert_eq!(kept.get_or_read(read), Ok(2));
        kept.share_for(Duration::from_secs(60));
        assert_eq!(kept.get_or_read(read), Ok(3));
        assert_eq!(kept.get_or_read(read), Ok(3));
        kept.changed();
        assert_eq!(kept.get_or_read(read), Ok(4));
        assert_eq!(kept.get_or_read(read), Ok(4));
        kept.share_for(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5)); // past a 1 ms window: the point of the test
        assert_eq!(kept.get_or_read(read), Ok(5));
    }

    #[test]
    fn a_failed_reading_is_not_kept() {
        let kept = Kept::<u32>::default();
        kept.share_for(Duration::from_secs(60));
        assert_eq!(kept.get_or_read(|| Err::<u32, _>("down")), Err("down"));
        assert_eq!(kept.get_or_read(|| Ok::<_, &str>(7)), Ok(7));
        assert_eq!(kept.get_or_read(|| Ok::<_, &str>(8)), Ok(7));
    }
}
