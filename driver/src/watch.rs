//! A value shared between a driver task and the handles that watch it: read it, wait
//! for it to change, or wait until a predicate holds. Released when the task ends, so
//! no waiter ever waits on a task that is gone.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A watched value (a cheap handle: clones share it). The driver [`set`](Self::set)s
/// it after each step; [`end`](Self::end) (or dropping the guard from
/// [`end_on_drop`](Self::end_on_drop)) marks it final, and from then on every wait
/// returns at once with the final value.
#[derive(Debug)]
pub(crate) struct Watch<T>(Arc<Mutex<Cell<T>>>);

impl<T> Clone for Watch<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

#[derive(Debug)]
struct Cell<T> {
    value: T,
    /// Bumped on every change.
    version: u64,
    /// Set when the task that feeds the value has ended: the value is final.
    ended: bool,
    /// Tasks waiting for the next change (each at most once).
    wakers: Vec<Waker>,
}

impl<T: Clone + PartialEq> Watch<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(Arc::new(Mutex::new(Cell { value, version: 0, ended: false, wakers: Vec::new() })))
    }

    fn lock(&self) -> MutexGuard<'_, Cell<T>> {
        // Plain data, no invariant spanning a panic: recover it.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value now.
    pub(crate) fn get(&self) -> T {
        self.lock().value.clone()
    }

    /// The version now: it changes whenever the value does.
    pub(crate) fn version(&self) -> u64 {
        self.lock().version
    }

    /// Replaces the value; wakes the waiters if it changed. Ignored once ended.
    pub(crate) fn set(&self, value: T) {
        let woken = {
            let mut cell = self.lock();
            if cell.ended || cell.value == value {
                return;
            }
            cell.value = value;
            cell.version += 1;
            std::mem::take(&mut cell.wakers)
        };
        woken.into_iter().for_each(Waker::wake);
    }

    /// Sets `value` (if it differs) and marks it final; wakes every waiter.
    pub(crate) fn end_with(&self, value: T) {
        let woken = {
            let mut cell = self.lock();
            if cell.ended {
                return;
            }
            if cell.value != value {
                cell.value = value;
                cell.version += 1;
            }
            cell.ended = true;
            std::mem::take(&mut cell.wakers)
        };
        woken.into_iter().for_each(Waker::wake);
    }

    /// Marks the value final; wakes every waiter.
    pub(crate) fn end(&self) {
        let value = self.get();
        self.end_with(value);
    }

    /// A guard that ends the watch when dropped, however its task ends.
    #[cfg_attr(not(feature = "zeromq"), allow(dead_code))] // the server's counters
    pub(crate) fn end_on_drop(&self) -> EndOnDrop<T> {
        EndOnDrop(self.clone())
    }

    /// Ready with the value once `predicate` holds for it, or once it is final.
    pub(crate) fn poll_until(&self, cx: &mut Context<'_>, predicate: &mut impl FnMut(&T) -> bool) -> Poll<T> {
        let mut cell = self.lock();
        if cell.ended || predicate(&cell.value) {
            return Poll::Ready(cell.value.clone());
        }
        register(&mut cell.wakers, cx);
        Poll::Pending
    }

    /// Ready with the value once its version differs from `seen` (which it updates),
    /// or once it is final.
    pub(crate) fn poll_changed(&self, cx: &mut Context<'_>, seen: &mut u64) -> Poll<T> {
        let mut cell = self.lock();
        if cell.ended || cell.version != *seen {
            *seen = cell.version;
            return Poll::Ready(cell.value.clone());
        }
        register(&mut cell.wakers, cx);
        Poll::Pending
    }

    /// Waits until `predicate` holds for the value, or it is final; returns it.
    #[cfg_attr(not(feature = "zeromq"), allow(dead_code))] // the server's counters
    pub(crate) async fn wait_for(&self, mut predicate: impl FnMut(&T) -> bool) -> T {
        poll_fn(|cx| self.poll_until(cx, &mut predicate)).await
    }

    /// The number of tasks waiting (for tests).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().wakers.len()
    }
}

fn register(wakers: &mut Vec<Waker>, cx: &Context<'_>) {
    if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
        wakers.push(cx.waker().clone());
    }
}

/// From [`Watch::end_on_drop`].
#[derive(Debug)]
#[cfg_attr(not(feature = "zeromq"), allow(dead_code))]
pub(crate) struct EndOnDrop<T: Clone + PartialEq>(Watch<T>);

impl<T: Clone + PartialEq> Drop for EndOnDrop<T> {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::task::{ArcWake, noop_waker, waker};

    use super::*;

    #[derive(Default)]
    struct CountWakes(AtomicUsize);

    impl ArcWake for CountWakes {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_waiter_wakes_on_each_change_and_returns_once_its_predicate_holds() {
        let wakes = Arc::new(CountWakes::default());
        let waker = waker(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let watch = Watch::new(0u32);
        let mut waiting = pin!(watch.wait_for(|n| *n == 2));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert_eq!(watch.waiting(), 1, "one waker, however often polled");
        watch.set(0); // unchanged: nobody woken
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
        watch.set(1);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        watch.set(2);
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(2));
    }

    #[test]
    fn the_end_releases_every_waiter_with_the_final_value_and_later_sets_are_ignored() {
        let wakes = Arc::new(CountWakes::default());
        let waker = waker(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let watch = Watch::new(3u32);
        let guard = watch.end_on_drop();
        let mut never = pin!(watch.wait_for(|_| false));
        assert!(never.as_mut().poll(&mut cx).is_pending());
        drop(guard);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(never.as_mut().poll(&mut cx), Poll::Ready(3));
        watch.set(4);
        assert_eq!(watch.get(), 3, "final");
        assert_eq!(pin!(watch.wait_for(|_| false)).poll(&mut cx), Poll::Ready(3), "a new waiter returns at once");
    }

    #[test]
    fn changes_are_seen_by_version() {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let watch = Watch::new('a');
        let mut seen = watch.version();
        assert!(watch.poll_changed(&mut cx, &mut seen).is_pending());
        watch.set('b');
        assert_eq!(watch.poll_changed(&mut cx, &mut seen), Poll::Ready('b'));
        assert!(watch.poll_changed(&mut cx, &mut seen).is_pending());
        watch.end_with('c');
        assert_eq!(watch.poll_changed(&mut cx, &mut seen), Poll::Ready('c'));
        assert_eq!(watch.poll_changed(&mut cx, &mut seen), Poll::Ready('c'), "final: ready every time");
    }
}
