//! A trace's entries, in the order they were written: a list of blocks.
//!
//! A long run writes a million entries (a 100-member barrier group for 10
//! simulated seconds, about 130 MB). Kept in one `Vec`, the trace copied
//! itself at every doubling and faulted in every page of each new
//! mapping: a sixth of such a run on the event loop. Blocks are never
//! moved once written: a full block stays where it is and the next entry
//! starts a new one, each twice the size of the one before, up to
//! [`MAX_BLOCK`] entries.
//!
//! A thread keeps the emptied blocks of the last trace it dropped for the
//! next trace it makes (see `SPARE`): a sweep's runs write traces one
//! after another, and a worker holds one trace's worth of blocks, as large
//! as its largest trace, so that memory stays flat over seeds.
//!
//! Invariant: every block but the last is full (its length is its
//! capacity), and no block is empty.

use super::Entry;
use serde::{Serialize, Serializer};

/// The first block's capacity, in entries.
const FIRST_BLOCK: usize = 1 << 10;
/// The largest block's capacity, in entries (about 2 MB).
const MAX_BLOCK: usize = 1 << 14;

#[derive(Default)]
pub struct Entries {
    blocks: Vec<Vec<Entry>>,
    len: usize,
}

/// An iterator over entries, in order (and back).
pub type Iter<'a> = std::iter::Flatten<std::slice::Iter<'a, Vec<Entry>>>;

thread_local! {
    /// The emptied blocks of the last trace this thread dropped, the
    /// first block to use last; see the module's documentation.
    static SPARE: std::cell::Cell<Vec<Vec<Entry>>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Entries {
    pub fn new() -> Entries {
        Entries::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> Iter<'_> {
        self.blocks.iter().flatten()
    }

    pub fn last(&self) -> Option<&Entry> {
        self.blocks.last().and_then(|b| b.last())
    }

    pub fn last_mut(&mut self) -> Option<&mut Entry> {
        self.blocks.last_mut().and_then(|b| b.last_mut())
    }

    pub fn push(&mut self, e: Entry) {
        match self.blocks.last_mut() {
            Some(block) if block.len() < block.capacity() => block.push(e),
            _ => {
                let mut block = self.new_block();
                block.push(e);
                self.blocks.push(block);
            }
        }
        self.len += 1;
    }

    /// An empty block for the next entries: a spare one, else a new one.
    fn new_block(&self) -> Vec<Entry> {
        if let Ok(Some(block)) = SPARE.try_with(|spare| {
            let mut blocks = spare.take();
            let block = blocks.pop();
            spare.set(blocks);
            block
        }) {
            return block;
        }
        let cap = self
            .blocks
            .last()
            .map_or(FIRST_BLOCK, |b| (2 * b.capacity()).min(MAX_BLOCK));
        Vec::with_capacity(cap)
    }

    /// The entries from position `start` on.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &Entry> {
        let mut skip = start;
        self.blocks.iter().flat_map(move |b| {
            let here = skip.min(b.len());
            skip -= here;
            &b[here..]
        })
    }

    /// The entries before position `end`, last first.
    pub fn rev_before(&self, end: usize) -> impl Iterator<Item = &Entry> {
        let mut left = end;
        let kept: Vec<&[Entry]> = self
            .blocks
            .iter()
            .map(|b| {
                let here = left.min(b.len());
                left -= here;
                &b[..here]
            })
            .collect();
        kept.into_iter().rev().flat_map(|b| b.iter().rev())
    }

    /// The number of leading entries for which `pred` holds, the entries
    /// being partitioned by it (all that hold first), as
    /// [`slice::partition_point`].
    pub fn partition_point(&self, pred: impl Fn(&Entry) -> bool) -> usize {
        let mut before = 0;
        for b in &self.blocks {
            let k = b.partition_point(&pred);
            before += k;
            if k < b.len() {
                break;
            }
        }
        before
    }
}

impl Drop for Entries {
    /// Keeps the blocks, emptied, for this thread's next trace, unless the
    /// ones kept are as large.
    fn drop(&mut self) {
        let mut blocks = std::mem::take(&mut self.blocks);
        let size = |bs: &[Vec<Entry>]| bs.iter().map(Vec::capacity).sum::<usize>();
        // (Not while the thread ends and its spare is gone.)
        let _ = SPARE.try_with(|spare| {
            let kept = spare.take();
            spare.set(if size(&kept) >= size(&blocks) {
                kept
            } else {
                for b in &mut blocks {
                    b.clear();
                }
                // The first block is taken last.
                blocks.reverse();
                blocks
            });
        });
    }
}

impl Clone for Entries {
    fn clone(&self) -> Entries {
        self.iter().cloned().collect()
    }
}

impl PartialEq for Entries {
    fn eq(&self, other: &Entries) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for Entries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Entries {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl Extend<Entry> for Entries {
    fn extend<I: IntoIterator<Item = Entry>>(&mut self, iter: I) {
        for e in iter {
            self.push(e);
        }
    }
}

impl FromIterator<Entry> for Entries {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Entries {
        let mut entries = Entries::new();
        entries.extend(iter);
        entries
    }
}

impl<'a> IntoIterator for &'a Entries {
    type Item = &'a Entry;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Entries {
    type Item = Entry;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<Entry>>>;
    fn into_iter(mut self) -> Self::IntoIter {
        std::mem::take(&mut self.blocks).into_iter().flatten()
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;
    use crate::trace::TraceEvent;
    use vigil_engine::{NodeId, Time};

    fn entry(k: usize) -> Entry {
        Entry {
            at: Time(k as u64),
            event: TraceEvent::NodeBoot {
                node: NodeId(k as u16),
            },
        }
    }

    /// Entries read back as they were written, across blocks, from any
    /// position and backwards from any position; `partition_point` agrees
    /// with a slice's.
    fn entries_read_back_in_order_across_blocks() {
        for n in [0, 1, FIRST_BLOCK, FIRST_BLOCK + 1, 5 * MAX_BLOCK + 7] {
            let flat: Vec<Entry> = (0..n).map(entry).collect();
            let entries: Entries = flat.iter().cloned().collect();
            assert_eq!(entries.len(), n);
            assert!(entries.iter().eq(flat.iter()));
            assert!(entries.iter().rev().eq(flat.iter().rev()));
            assert_eq!(entries.last(), flat.last());
            for at in [0, 1, FIRST_BLOCK - 1, FIRST_BLOCK, 3 * FIRST_BLOCK + 2, n] {
                let at = at.min(n);
                assert!(entries.iter_from(at).eq(flat[at..].iter()), "{n} from {at}");
                assert!(
                    entries.rev_before(at).eq(flat[..at].iter().rev()),
                    "{n} before {at}"
                );
                let pred = |e: &Entry| e.at < Time(at as u64);
                assert_eq!(entries.partition_point(pred), flat.partition_point(pred));
            }
            assert_eq!(entries.clone(), entries);
            assert!(entries.into_iter().eq(flat.into_iter()));
        }
    }

    /// A trace's blocks never move: a full one stays, the next entry goes
    /// to a new block, and a dropped trace's blocks serve the next one.
    fn blocks_are_not_moved_and_are_reused() {
        let _ = SPARE.with(|s| s.take());
        let mut entries = Entries::new();
        entries.push(entry(0));
        let first = entries.blocks[0].as_ptr();
        for k in 1..3 * MAX_BLOCK {
            entries.push(entry(k));
        }
        assert_eq!(entries.blocks[0].as_ptr(), first, "the first block stayed");
        assert!(entries.blocks.iter().all(|b| b.capacity() <= MAX_BLOCK));
        let blocks = entries.blocks.len();
        drop(entries);
        let mut next = Entries::new();
        next.push(entry(0));
        assert_eq!(next.blocks[0].as_ptr(), first, "the spare first block");
        next.extend((1..3 * MAX_BLOCK).map(entry));
        assert_eq!(next.blocks.len(), blocks);
        let _ = SPARE.with(|s| s.take());
    }

    unit_tests![
        entries_read_back_in_order_across_blocks,
        blocks_are_not_moved_and_are_reused,
    ];
}
