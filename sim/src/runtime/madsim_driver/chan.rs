//! The unbounded channel the tasks of a run talk through: an engine task's
//! inbox, a main thread's, a work thread's queue, a sender's packets.
//!
//! It keeps the wake-ups of `futures::channel::mpsc::unbounded` exactly, so
//! madsim schedules the same tasks in the same order: a send wakes the
//! receiver if (and only if) the receiver's last poll found the channel
//! empty and registered its waker since the last wake; the last sender
//! gone wakes it to find the channel closed (even a receiver dropped since:
//! the task that held it is woken); a dropped receiver closes the channel
//! and drops what was queued. What it saves is the lock-free
//! queue's node allocated per message and its atomics: a run is one
//! thread, so a mutex no one contends and a `VecDeque` do.

use futures::stream::{FusedStream, Stream};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct Shared<T> {
    queue: VecDeque<T>,
    /// The receiver's waker, from the poll that found the channel empty.
    waker: Option<Waker>,
    senders: usize,
    /// No sender is left, or the receiver is gone.
    closed: bool,
}

struct Chan<T>(Mutex<Shared<T>>);

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, Shared<T>> {
        // A panic in a task ends the run; the channel is not read after it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A channel without a bound.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan(Mutex::new(Shared {
        queue: VecDeque::new(),
        waker: None,
        senders: 1,
        closed: false,
    })));
    (
        Sender(chan.clone()),
        Receiver {
            chan,
            terminated: false,
        },
    )
}

pub struct Sender<T>(Arc<Chan<T>>);

impl<T> Sender<T> {
    /// Queues `msg`; gives it back if the receiver is gone.
    pub fn unbounded_send(&self, msg: T) -> Result<(), T> {
        let waker = {
            let mut s = self.0.lock();
            if s.closed {
                return Err(msg);
            }
            s.queue.push_back(msg);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.0.lock();
            s.senders -= 1;
            if s.senders > 0 {
                return;
            }
            s.closed = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// It said the channel ended: it says so from now on.
    terminated: bool,
}

impl<T> Receiver<T> {
    /// The next message if one is queued, without waiting (and without
    /// registering a waker).
    pub fn try_recv(&mut self) -> Option<T> {
        if self.terminated {
            return None;
        }
        let mut s = self.chan.lock();
        let msg = s.queue.pop_front();
        if msg.is_none() && s.closed {
            drop(s);
            self.terminated = true;
        }
        msg
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.terminated {
            return Poll::Ready(None);
        }
        let mut s = self.chan.lock();
        if let Some(msg) = s.queue.pop_front() {
            return Poll::Ready(Some(msg));
        }
        if s.closed {
            drop(s);
            self.terminated = true;
            return Poll::Ready(None);
        }
        let replaced = match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => None,
            _ => s.waker.replace(cx.waker().clone()),
        };
        drop(s);
        // A waker replaced goes outside the lock.
        drop(replaced);
        Poll::Pending
    }
}

impl<T> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let queued = {
            let mut s = self.chan.lock();
            // The waker stays, as in `futures`: the last sender's drop
            // still wakes the task that held this receiver.
            s.closed = true;
            std::mem::take(&mut s.queue)
        };
        // What was queued goes now, outside the lock (a message may hold a
        // sender of this channel).
        drop(queued);
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// Counts the wake-ups a task gets.
    pub(crate) struct Count(pub(crate) AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    /// A waker that counts its wake-ups, and the count.
    pub(crate) fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    /// This channel and `futures::channel::mpsc::unbounded` side by side,
    /// through one script (`s` a send, `p` a poll, `r` a poll with another
    /// task's waker, `t` a `try_recv`, `c` a second sender made, `d` a
    /// sender dropped, `x` the receiver dropped): what each poll, send and
    /// `try_recv` returns and how many wake-ups each task got, step for
    /// step.
    fn wakes_as_futures_unbounded_does() {
        for script in [
            "ppsspppspsssppp",
            "sspppspcdsppdp",
            "prsprspsdp",
            "rpsrsppts",
            "pcsdpsdpp",
            "ppxcsdd",
            "pspxsd",
            "rtsptsptdp",
            "rxd",
        ] {
            let (count_a, wa) = counter();
            let (count_b, wb) = counter();
            let (other_count_a, other_wa) = counter();
            let (other_count_b, other_wb) = counter();
            let (tx_a, rx_a) = unbounded::<usize>();
            let (tx_b, rx_b) = futures::channel::mpsc::unbounded::<usize>();
            let (mut rx_a, mut rx_b) = (Some(rx_a), Some(rx_b));
            let (mut txs_a, mut txs_b) = (vec![tx_a], vec![tx_b]);
            let mut wakes = 0;
            for (step, op) in script.chars().enumerate() {
                match op {
                    's' => {
                        let a = txs_a.last().map(|tx| tx.unbounded_send(step).is_ok());
                        let b = txs_b.last().map(|tx| tx.unbounded_send(step).is_ok());
                        assert_eq!(a, b, "{script} step {step}");
                    }
                    'p' | 'r' => {
                        let (wa, wb) = if op == 'p' {
                            (&wa, &wb)
                        } else {
                            (&other_wa, &other_wb)
                        };
                        let a = rx_a
                            .as_mut()
                            .map(|rx| rx.poll_next_unpin(&mut Context::from_waker(wa)));
                        let b = rx_b
                            .as_mut()
                            .map(|rx| rx.poll_next_unpin(&mut Context::from_waker(wb)));
                        assert_eq!(a, b, "{script} step {step}");
                    }
                    't' => {
                        let a = rx_a.as_mut().map(|rx| rx.try_recv());
                        let b = rx_b.as_mut().map(|rx| rx.try_recv().ok());
                        assert_eq!(a, b, "{script} step {step}");
                    }
                    'c' => {
                        txs_a.push(txs_a[0].clone());
                        txs_b.push(txs_b[0].clone());
                    }
                    'd' => {
                        txs_a.pop();
                        txs_b.pop();
                    }
                    'x' => {
                        rx_a = None;
                        rx_b = None;
                    }
                    _ => unreachable!(),
                }
                for (a, b, task) in [
                    (&count_a, &count_b, "p"),
                    (&other_count_a, &other_count_b, "r"),
                ] {
                    let (a, b) = (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst));
                    assert_eq!(a, b, "{script} step {step}: wake-ups of task {task}");
                }
                wakes = count_a.0.load(Ordering::SeqCst) + other_count_a.0.load(Ordering::SeqCst);
            }
            assert!(wakes > 0, "{script} wakes a task");
        }
    }

    fn a_send_to_a_dropped_receiver_gives_the_message_back() {
        let (tx, rx) = unbounded::<u32>();
        tx.unbounded_send(1).expect("open");
        drop(rx);
        assert_eq!(tx.unbounded_send(2), Err(2));
    }

    unit_tests![
        wakes_as_futures_unbounded_does,
        a_send_to_a_dropped_receiver_gives_the_message_back,
    ];
}
