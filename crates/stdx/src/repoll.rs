//! [`Repoll`]: a future that polls itself again at once when it wakes itself while it runs.
//!
//! hyper's HTTP/1 connection task wakes its own waker while it is being polled on every request
//! with a body: its body channel wakes the sender (the dispatcher) whenever the receiver (the
//! handler, polled inside the same task) takes a chunk. tokio treats a task woken during its
//! own poll as a yield: it puts the task at the back of the run queue and wakes an idle worker
//! thread to share the work (a futex call, a context switch, and often the task moving to the
//! other core). Wrapping the connection future in [`Repoll`] turns such a wake-up into an
//! immediate second poll on the same thread, at most [`REPOLLS_MAX`] times per poll; wake-ups
//! from anywhere else (the I/O driver, timers, other tasks) reach the task's own waker as
//! before.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Immediate re-polls within one poll before the wrapper yields to the scheduler the usual way
/// (so a future that keeps waking itself cannot hold its worker thread).
pub const REPOLLS_MAX: usize = 8;

/// Not being polled: a wake-up goes to the task's waker.
const IDLE: u8 = 0;
/// Being polled: a wake-up is noted, and the poll is repeated.
const POLLING: u8 = 1;
/// Being polled, and woken since the poll began.
const WOKEN: u8 = 2;

/// See the module documentation.
pub struct Repoll<F> {
    inner: Pin<Box<F>>,
    signal: Arc<Signal>,
    /// `signal` as a waker, handed to the inner future.
    waker: Waker,
}

struct Signal {
    state: AtomicU8,
    /// The waker of the task that polls the wrapper, from its last poll.
    outer: Mutex<Option<Waker>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self.state.compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) | Err(WOKEN) => {}
            Err(_) => {
                if let Some(waker) = self.outer.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    waker.wake_by_ref();
                }
            }
        }
    }
}

impl<F: Future> Repoll<F> {
    pub fn new(inner: F) -> Repoll<F> {
        let signal = Arc::new(Signal { state: AtomicU8::new(IDLE), outer: Mutex::new(None) });
        let waker = Waker::from(signal.clone());
        Repoll { inner: Box::pin(inner), signal, waker }
    }
}

impl<F: Future> Future for Repoll<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            let mut outer = this.signal.outer.lock().unwrap_or_else(|e| e.into_inner());
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..REPOLLS_MAX {
            this.signal.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(out) = this.inner.as_mut().poll(&mut inner_cx) {
                this.signal.state.store(IDLE, Ordering::Release);
                return Poll::Ready(out);
            }
            // Not woken during the poll: wait for a wake-up from outside.
            if this.signal.state.compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return Poll::Pending;
            }
        }
        this.signal.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wake-ups that reach the task.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<F: Future>(f: &mut Repoll<F>, count: &Arc<Count>) -> Poll<F::Output> {
        let waker = Waker::from(count.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_wake_during_the_poll_polls_again_without_waking_the_task() {
        let mut polls = 0;
        let mut f = Repoll::new(std::future::poll_fn(move |cx| {
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        }));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        assert_eq!(poll(&mut f, &count), Poll::Ready(3));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_future_that_always_wakes_itself_yields_after_the_bound() {
        let polls = Arc::new(AtomicUsize::new(0));
        let seen = polls.clone();
        let mut f = Repoll::new(std::future::poll_fn(move |cx| {
            seen.fetch_add(1, Ordering::SeqCst);
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        }));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        assert_eq!(poll(&mut f, &count), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), REPOLLS_MAX);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the task is woken once, to be polled later");
    }

    #[test]
    fn a_wake_after_the_poll_reaches_the_task() {
        let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
        let keep = stash.clone();
        let mut f = Repoll::new(std::future::poll_fn(move |cx| {
            *keep.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        assert_eq!(poll(&mut f, &count), Poll::Pending);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        let waker = stash.lock().unwrap().take().unwrap();
        std::thread::spawn(move || waker.wake()).join().unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // A later poll from another task's waker moves the wake-ups there.
        let other = Arc::new(Count(AtomicUsize::new(0)));
        assert_eq!(poll(&mut f, &other), Poll::Pending);
        stash.lock().unwrap().take().unwrap().wake_by_ref();
        assert_eq!((count.0.load(Ordering::SeqCst), other.0.load(Ordering::SeqCst)), (1, 1));
    }
}
