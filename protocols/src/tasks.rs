//! `tasks`: a work thread that runs the tasks submitted to its group, one
//! after another, in one order at every member (US 6,823,512).
//!
//! A task is a protocol instance of ACK rounds (three rounds of a barrier,
//! one two-phase-commit transaction), submitted to the group as an ordered
//! message (`Dest::Ordered`): the engine's sequencer, the view's leader,
//! gives every member the group's ordered messages and views in one order.
//! A *priority* task is also routed by the main thread to the work thread's
//! response queue, and is taken at the next task boundary ahead of every
//! older task that has not begun.
//!
//! # Boundaries are points in the group's order
//!
//! Members finish a task at different times, so "the next task" cannot be
//! what a member happens to hold when it finishes: a priority task that
//! reached one member just before its boundary and another just after would
//! be run in two orders. Instead every boundary is a point of the ordered
//! stream. A member that finishes task `t` submits `Ready(t)`; the first
//! `Ready(t)` in the order closes `t`, and at that point every member
//! chooses the same next task from the same queue: the oldest priority task
//! if there is one, else the oldest task. With nothing queued the group is
//! idle and the next task to arrive is chosen where it arrives. A member
//! still running `t` when the boundary passes runs the chosen task after
//! it. So every member that runs a set of tasks runs them in one order,
//! and a priority task runs after every task already begun and before
//! every older task that had not (the `task-order` check).
//!
//! # Joins and merges
//!
//! A member that joins has not seen the tasks ordered before it, two sides
//! of a healed partition each have their own, and a member told of a view
//! after it missed the one before may lack messages the others took in it.
//! So after every view change a member makes no choice of its own (the
//! stream still moves its account on) until the members agree again: each
//! submits `Want`; every `Want` in the order opens an exchange (a later one
//! supersedes an unfinished one), which every member answers with its
//! account of the queue (`State`), buffering what follows. An exchange ends
//! only in the view it was opened in, so any two members that end one took
//! the same `Want`s and `State`s, in one order (that view's order, up to
//! where they end it). Once every
//! member of the view has answered, each adopts the richest account (the
//! most tasks chosen, then the most known, then the lowest member's), adds
//! the tasks only the other accounts queued, drops those any side already
//! chose, and replays what it buffered. A member running a task that the
//! adopted account does not hold (the other side's) abandons it, and
//! answers the members still in it as it left it: its ACK for each round
//! it reached, "skipped" for the rest. A task both sides chose is closed at
//! the merge.
//!
//! Every member of a view runs the task the group runs: a member that
//! joined during a task begins it late and catches up in its ACK rounds,
//! answered by the members' finished instances (`Rounds::answer`); a member
//! that arrives after the group finished a task is not needed for it, and
//! answers a member still in it that it never takes part
//! (`skipped_answer`), and says so in the trace (`TaskEvent::Excused`: the
//! `barrier-order` check then lets that member's round pass without it).
//! A member that finished a task answers a later round of it "skipped" and
//! says so too: members that completed its last round in another view
//! (one left before its ACK reached them all) may read other ACKs there
//! and need more rounds than it did.
//! So that a member still in a task is answered even when its ACK never
//! reached a member (sent as a view change made that one a member, before
//! its node installed the view), it sends its ACK again to a member it
//! waits for that is heard in a later task (`Tasks::poke`, once), or that
//! joined its view, or came to it from another view than its own
//! (`MembershipChange::rejoined`), and speaks in it (`Tasks::poke_joiner`);
//! a member that
//! ran a task on its own side of a partition skips the group's instance of
//! it and answers "skipped" too (`Tasks::without_me`). With a
//! quorum only a primary view begins a task, so the two sides of a
//! partition never run tasks in two orders; without one, each side runs its
//! own.
//!
//! The fault-heavy example (`tasks-random-faults.toml`) keeps no quorum, so
//! that the two sides of a partition run their own tasks and the merge of
//! two histories is exercised; `tasks.toml` and `tasks-priority-race.toml`
//! keep one.
//!
//! Round `r` of the group's `n`-th task, task `t`, is numbered
//! `n << 44 | t << 30 | r` on the wire and in the trace, so rounds grow
//! from task to task within a group's history, and the same number in two
//! histories (two sides of a partition) names two instances; the task's
//! instances (transactions) are numbered likewise, so each task's are its
//! own.

use crate::Rounds;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use vigil_engine::job::{Completion, Decision, JobMsg, Next, TaskEvent, Vote};
use vigil_engine::{MemberId, MembershipChange, ViewId};

/// Makes the protocol instance of task `id` for member `me` (`None`: no
/// such task).
pub type MakeTask = Arc<dyn Fn(u32, MemberId) -> Option<Box<dyn Rounds>> + Send + Sync>;

/// The ordered messages of the task stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Hash)]
pub enum TaskMsg {
    /// A task submitted to the group.
    Task { id: u32, priority: bool },
    /// A member finished the task: the first `Ready` closes it.
    Ready { id: u32 },
    /// A member saw new members join its view and asks for accounts.
    Want,
    /// A member's account of the queue, answering the `Want` that opened
    /// the exchange (named by its sender and the sender's number for it);
    /// `None`: it has none yet, having just joined.
    State {
        want: (MemberId, u64),
        stream: Option<Stream>,
    },
}

impl TaskMsg {
    /// What a member's main thread is handed to submit task `id` to its
    /// group (`MainInput::Submit`): a priority task is a priority message.
    pub fn submission(id: u32, priority: bool) -> JobMsg {
        JobMsg {
            thread: 0,
            round: u64::from(id),
            payload: TaskMsg::Task { id, priority }.encode(),
            priority,
        }
    }

    pub fn encode(&self) -> Arc<[u8]> {
        bincode::serialize(self)
            .expect("a task message serializes")
            .into()
    }
    pub fn decode(bytes: &[u8]) -> Option<TaskMsg> {
        bincode::deserialize(bytes).ok()
    }
}

/// The group's task queue as a member holds it: a function of the ordered
/// stream, so equal at every member at the same point of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Hash)]
pub struct Stream {
    /// Tasks waiting, in the group's order, with their priority.
    queue: Vec<(u32, bool)>,
    /// The task chosen last, and its number (1 for the first).
    current: Option<(u32, u64)>,
    /// Whether `current` still runs (its boundary has not passed).
    open: bool,
    /// Every task ever chosen.
    chosen: BTreeSet<u32>,
    /// Every task ever queued.
    known: BTreeSet<u32>,
}

impl Stream {
    fn count(&self) -> u64 {
        self.current.map_or(0, |(_, n)| n)
    }
}

/// An exchange of accounts under way.
#[derive(Clone, Debug, Hash)]
struct Resync {
    /// The `Want` that opened it.
    want: (MemberId, u64),
    /// The view it was opened in: it ends only in that view.
    view: ViewId,
    /// Who must answer: the view's members when it began.
    expect: BTreeSet<MemberId>,
    states: BTreeMap<MemberId, Option<Stream>>,
    /// What arrived after it began, to replay on the adopted account.
    buffered: Vec<TaskMsg>,
}

/// The task this member runs now.
#[derive(Clone, Debug, Hash)]
struct Doing {
    id: u32,
    /// Its number in the group's order.
    number: u64,
    rounds: Box<dyn Rounds>,
}

/// How many finished tasks, and how many abandoned ones, a member keeps, to
/// answer the members still in them.
const KEPT: usize = 4;
/// How many ACKs a member keeps for tasks it has not begun.
const EARLY_MAX: usize = 4096;

/// A task instance: the group's number for it and the task.
type Key = (u64, u32);

/// Bits of a task's own round (or instance) number in the outer one; then
/// 14 bits of task (at most 10,000 tasks) and 20 of its number.
const INNER_BITS: u32 = 30;
const TASK_BITS: u32 = 14;

/// The task instance a round of a task runner belongs to: the group's
/// task number and the task's id (rounds are numbered
/// `number << 44 | task << 30 | round`).
pub fn instance_of(round: u64) -> (u64, u32) {
    key_of(round)
}

/// Which round of its task instance a task runner's round is.
pub fn round_in_task(round: u64) -> u64 {
    inner_round(round)
}

fn key_of(round: u64) -> Key {
    (
        round >> (INNER_BITS + TASK_BITS),
        ((round >> INNER_BITS) & ((1 << TASK_BITS) - 1)) as u32,
    )
}
fn inner_round(round: u64) -> u64 {
    round & ((1 << INNER_BITS) - 1)
}
/// Round (or instance) `round` of task instance `key`, as the wire and the
/// trace number it.
fn outer(key: Key, round: u64) -> u64 {
    debug_assert!(round < 1 << INNER_BITS && u64::from(key.1) < 1 << TASK_BITS);
    key.0 << (INNER_BITS + TASK_BITS) | u64::from(key.1) << INNER_BITS | round
}

/// Runs the tasks of a group, in its order; see the module docs. (Its
/// task factory is shared by its copies and left out of its hash.)
#[derive(Clone)]
pub struct Tasks {
    me: MemberId,
    make: MakeTask,
    view: Option<MembershipChange>,
    stream: Stream,
    /// Whether this member holds an account (it has adopted one).
    synced: bool,
    /// From a view change to the end of the exchange it opens, the member
    /// makes no choice of its own: the stream moves its account on, but
    /// what it chooses runs only once the accounts agree.
    paused: bool,
    resync: Option<Resync>,
    /// Tasks chosen that this member has yet to run, with their numbers.
    agenda: VecDeque<(u32, u64)>,
    doing: Option<Doing>,
    /// Finished tasks, by number, still answering members behind.
    done: VecDeque<(Key, Box<dyn Rounds>)>,
    /// Instances this member abandoned, as it left them, still answering
    /// the members in them (the last [`KEPT`]). Keyed as `done` is, by the
    /// group's number and the task: an instance of another history (the
    /// other side of a partition) under the same key would be answered
    /// from this one; no sweep has shown one.
    abandoned: VecDeque<(Key, Box<dyn Rounds>)>,
    /// Every task instance this member began, with the id it began it
    /// under (a node that comes back under a new incarnation renames its
    /// members, and the task runner runs on).
    ran_keys: BTreeMap<Key, MemberId>,
    /// The instances this member answered "skipped" for (each reported
    /// once).
    excused: BTreeSet<Key>,
    /// The members this member sent its ACK of a round again (see
    /// [`Tasks::poke`], once each; [`Tasks::poke_joiner`] sends it again
    /// at each message of a joiner, uncounted), with the round.
    poked: BTreeSet<(MemberId, u64)>,
    /// ACKs for tasks not begun yet, by task number.
    early: BTreeMap<Key, Vec<(MemberId, u64, Vec<u8>)>>,
    early_len: usize,
    submissions: Vec<Arc<[u8]>>,
    answers: Vec<(MemberId, u64, Arc<[u8]>)>,
    events: Vec<TaskEvent>,
    probes: Vec<&'static str>,
    decisions: Vec<(&'static str, Option<&'static str>, Decision)>,
    votes: Vec<Vote>,
    completion: Option<Completion>,
    completed: u64,
    /// The broken variant `priority-ignored`: tasks in arrival order only.
    fifo_only: bool,
    /// The broken variant `local-boundary`: a member chooses when it
    /// finishes, from what it holds, not at the group's boundary.
    local_boundary: bool,
    /// The broken variant `joiner-left-waiting`: a task run elsewhere is
    /// not answered, and a joiner is not sent our ACK again when it speaks.
    joiner_left_waiting: bool,
    /// The broken variant `abandoned-silent`: an instance abandoned after
    /// it began answers no one.
    abandoned_silent: bool,
    /// The broken variant `ready-once`: a member that finished the task an
    /// adopted account still runs does not say so again.
    ready_once: bool,
    /// The broken variant `apart-unpoked`: a member of the view before
    /// that was apart from this one meanwhile is not sent our ACK again
    /// when it speaks, as a joiner is.
    apart_unpoked: bool,
    /// The broken variant `finished-unexcused`: a member that finished an
    /// instance answers its later rounds "skipped" without saying in the
    /// trace that it takes no further part.
    finished_unexcused: bool,
    /// The broken variant `adopt-across-views`: an exchange ends in a later
    /// view than its own, with the members that answered before they left.
    adopt_across_views: bool,
    /// The broken variant of the unit tests: an instance begun under an
    /// earlier id counts as begun under this one. (Since exchanges end
    /// only in their own view and abandoned instances answer, no sweep of
    /// tasks-random-faults.toml reaches the bug: 40,000 runs pass with it.)
    begun_under_old_name: bool,
}

impl std::hash::Hash for Tasks {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let Tasks {
            me,
            make: _,
            view,
            stream,
            synced,
            paused,
            resync,
            agenda,
            doing,
            done,
            abandoned,
            ran_keys,
            excused,
            poked,
            early,
            early_len,
            submissions,
            answers,
            events,
            probes,
            decisions,
            votes,
            completion,
            completed,
            fifo_only,
            local_boundary,
            joiner_left_waiting,
            begun_under_old_name,
            adopt_across_views,
            abandoned_silent,
            ready_once,
            apart_unpoked,
            finished_unexcused,
        } = self;
        (me, view, stream, synced, paused, resync, agenda, doing).hash(state);
        (done, abandoned, ran_keys, excused, poked, early, early_len).hash(state);
        (submissions, answers, events, probes, decisions, votes).hash(state);
        (completion, completed).hash(state);
        (fifo_only, local_boundary, joiner_left_waiting).hash(state);
        (begun_under_old_name, adopt_across_views, abandoned_silent).hash(state);
        (ready_once, apart_unpoked, finished_unexcused).hash(state);
    }
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks")
            .field("me", &self.me)
            .field("stream", &self.stream)
            .field("synced", &self.synced)
            .field("agenda", &self.agenda)
            .field("doing", &self.doing.as_ref().map(|d| (d.id, d.number)))
            .finish_non_exhaustive()
    }
}

impl Tasks {
    pub fn new(me: MemberId, make: MakeTask) -> Tasks {
        Tasks {
            me,
            make,
            view: None,
            stream: Stream::default(),
            synced: false,
            paused: false,
            resync: None,
            agenda: VecDeque::new(),
            doing: None,
            done: VecDeque::new(),
            abandoned: VecDeque::new(),
            ran_keys: BTreeMap::new(),
            excused: BTreeSet::new(),
            poked: BTreeSet::new(),
            early: BTreeMap::new(),
            early_len: 0,
            submissions: Vec::new(),
            answers: Vec::new(),
            events: Vec::new(),
            probes: Vec::new(),
            decisions: Vec::new(),
            votes: Vec::new(),
            completion: None,
            completed: 0,
            fifo_only: false,
            local_boundary: false,
            joiner_left_waiting: false,
            begun_under_old_name: false,
            adopt_across_views: false,
            abandoned_silent: false,
            ready_once: false,
            apart_unpoked: false,
            finished_unexcused: false,
        }
    }

    /// Runs a deliberately broken variant (tests only).
    #[cfg(any(test, feature = "mutations"))]
    pub fn mutate(&mut self, mutation: crate::Mutation) {
        match mutation {
            crate::Mutation::PriorityIgnored => self.fifo_only = true,
            crate::Mutation::LocalBoundary => self.local_boundary = true,
            crate::Mutation::JoinerLeftWaiting => self.joiner_left_waiting = true,
            crate::Mutation::AdoptAcrossViews => self.adopt_across_views = true,
            crate::Mutation::AbandonedSilent => self.abandoned_silent = true,
            crate::Mutation::ReadyOnce => self.ready_once = true,
            crate::Mutation::ApartUnpoked => self.apart_unpoked = true,
            crate::Mutation::FinishedUnexcused => self.finished_unexcused = true,
            _ => {}
        }
    }

    fn event(&mut self, event: TaskEvent) {
        self.events.push(event);
    }

    fn submit(&mut self, msg: TaskMsg) {
        self.submissions.push(msg.encode());
    }

    // ---- the stream: the same at every member at the same point ----

    /// Takes one message of the stream in the group's order. `run` is
    /// false while an exchange is paused (choices are made, not run).
    fn apply(&mut self, msg: TaskMsg, run: bool) {
        match msg {
            TaskMsg::Task { id, priority } => {
                if !self.stream.known.insert(id) {
                    return;
                }
                if run {
                    self.event(TaskEvent::Queued { task: id, priority });
                }
                self.stream.queue.push((id, priority));
                if !self.stream.open && self.may_choose() {
                    self.choose(run);
                }
            }
            TaskMsg::Ready { id } => {
                let closes = self.stream.open && self.stream.current.is_some_and(|(c, _)| c == id);
                if closes && !self.local_boundary {
                    self.stream.open = false;
                    if self.may_choose() {
                        self.choose(run);
                    }
                }
            }
            TaskMsg::Want | TaskMsg::State { .. } => {}
        }
    }

    /// Whether the group may begin a task here: not in a view that is not
    /// primary (with a quorum, a minority side queues tasks and runs none,
    /// so two sides of a partition never run tasks in two orders).
    fn may_choose(&self) -> bool {
        self.view.as_ref().is_none_or(|v| v.primary != Some(false))
    }

    /// The boundary passed: the next task, if any waits.
    fn choose(&mut self, run: bool) {
        let pick = if self.fifo_only {
            (!self.stream.queue.is_empty()).then_some(0)
        } else {
            let q = &self.stream.queue;
            q.iter()
                .position(|(_, p)| *p)
                .or((!q.is_empty()).then_some(0))
        };
        let Some(i) = pick else { return };
        if i > 0 {
            self.probes.push(vigil_engine::probe::PRIORITY_OVERTOOK);
        }
        let (id, priority) = self.stream.queue.remove(i);
        let number = self.stream.count() + 1;
        self.stream.current = Some((id, number));
        self.stream.open = true;
        self.stream.chosen.insert(id);
        if run {
            let view = self.view.as_ref().map_or(ViewId(0), |v| v.view);
            self.event(TaskEvent::Chosen {
                task: id,
                priority,
                view,
            });
            self.agenda.push_back((id, number));
        }
    }

    /// One message of the stream; `n` is its sender's number for it.
    fn on_stream(&mut self, from: &MemberId, n: u64, msg: TaskMsg) {
        match msg {
            TaskMsg::Want => {
                // Every `Want` opens a new exchange, which every member
                // answers: whether one is already under way could differ
                // from member to member, never the stream. What was
                // buffered for an unfinished one moves this member's
                // account on (nothing of it runs).
                if let Some(r) = self.resync.take() {
                    for m in r.buffered {
                        self.apply(m, false);
                    }
                }
                let expect = self
                    .view
                    .as_ref()
                    .map(|v| v.members.iter().cloned().collect())
                    .unwrap_or_default();
                let want = (from.clone(), n);
                self.resync = Some(Resync {
                    want: want.clone(),
                    view: self.view_id(),
                    expect,
                    states: BTreeMap::new(),
                    buffered: Vec::new(),
                });
                let stream = self.synced.then(|| self.stream.clone());
                self.submit(TaskMsg::State { want, stream });
            }
            TaskMsg::State { want, stream } => {
                let Some(r) = self.resync.as_mut() else {
                    return;
                };
                if r.want == want && r.expect.contains(from) {
                    r.states.entry(from.clone()).or_insert(stream);
                }
                self.try_adopt();
            }
            other => match self.resync.as_mut() {
                Some(r) => r.buffered.push(other),
                None => {
                    self.apply(other, !self.paused);
                    self.run_next();
                }
            },
        }
    }

    /// Ends the exchange once every member expected has answered, in the
    /// view it was opened in: any two members that end it there took the
    /// same prefix of that view's order, so they end it at the same point
    /// of the stream with the same accounts. One opened in an
    /// earlier view does not end: the members of this view did not all
    /// take part in it, and the `Want` this member submitted at the view
    /// change opens the one they share. (Ended in the new view, by a member
    /// whose last peer in the old one had left or had answered, it let that
    /// member choose tasks from its own account while the others chose
    /// from theirs: tasks-random-faults seed 3817, two members of one view
    /// ran two tasks after one boundary.)
    fn try_adopt(&mut self) {
        let Some(r) = self.resync.as_ref() else {
            return;
        };
        let this_view = r.view == self.view_id() || self.adopt_across_views;
        if !this_view || !r.expect.iter().all(|m| r.states.contains_key(m)) {
            return;
        }
        let r = self.resync.take().expect("an exchange");
        let accounts: Vec<(&MemberId, &Stream)> = r
            .states
            .iter()
            .filter_map(|(m, s)| s.as_ref().map(|s| (m, s)))
            .collect();
        // The richest account; ties go to the lowest member (the map's
        // order), since `max_by_key` keeps the last maximum, reversed.
        let best = accounts
            .iter()
            .rev()
            .max_by_key(|(_, s)| (s.count(), s.known.len()))
            .map(|(_, s)| (*s).clone())
            .unwrap_or_default();
        let mut merged = best.clone();
        for (_, s) in &accounts {
            merged.chosen.extend(s.chosen.iter().copied());
        }
        for (_, s) in &accounts {
            for (id, p) in &s.queue {
                if !merged.known.contains(id) {
                    merged.queue.push((*id, *p));
                }
            }
            merged.known.extend(s.known.iter().copied());
        }
        let chosen = merged.chosen.clone();
        merged.queue.retain(|(id, _)| !chosen.contains(id));
        // A task the other side chose too ran there: closed at the merge.
        let elsewhere = |id: u32| {
            accounts
                .iter()
                .any(|(_, s)| **s != best && s.chosen.contains(&id))
        };
        if merged.open && merged.current.is_some_and(|(id, _)| elsewhere(id)) {
            merged.open = false;
        }
        let mine = self.synced && self.stream == best;
        self.stream = merged;
        self.synced = true;
        self.paused = false;
        if !mine {
            self.agenda.clear();
        }
        // A task this member runs that the adopted account does not run on
        // is abandoned: the group has moved past it or never had it.
        let keep = self.doing.as_ref().is_some_and(|d| {
            mine && (self.stream.open && self.stream.current == Some((d.id, d.number))
                || self.stream.current.is_some_and(|(_, n)| d.number < n))
        });
        if !keep {
            if let Some(d) = self.doing.take() {
                self.event(TaskEvent::Finished {
                    task: d.id,
                    outcome: "abandoned".into(),
                });
                self.keep_abandoned(d);
            }
        }
        self.event(TaskEvent::Adopted {
            current: self.stream.current.map(|(id, _)| id),
            open: self.stream.open,
            queue: self.stream.queue.iter().map(|(id, _)| *id).collect(),
        });
        if self.stream.open {
            let current = self.stream.current.expect("an open task");
            let doing = self.doing.as_ref().is_some_and(|d| d.number == current.1);
            if !self.has_run(current.0) && !doing && !self.agenda.contains(&current) {
                self.agenda.push_back(current);
            }
            // A task this member finished that the account still runs: its
            // `Ready` never closed it (submitted under an id its node has
            // since dropped, or in a view whose leader left first), and no
            // other member may be left to: it says so again
            // (tasks-random-faults seed 3735 on the event loop: n4 finished
            // task 52, its node came back under a new incarnation, and it
            // adopted its own account, 52 still open, alone; the group
            // never began another task).
            let finished = self.done.iter().any(|((_, id), _)| *id == current.0);
            if finished && !doing && !self.ready_once {
                self.submit(TaskMsg::Ready { id: current.0 });
            }
        } else if !self.local_boundary && self.may_choose() {
            self.choose(true);
        }
        for m in r.buffered {
            self.apply(m, true);
        }
        self.settle_early();
        self.run_next();
    }

    /// ACKs that came early for task instances this member has since
    /// learned it never takes part in ([`Tasks::without_me`]): it says so,
    /// so that a member still in one does not wait for it.
    fn settle_early(&mut self) {
        let passed: Vec<Key> = (self.early.keys())
            .copied()
            .filter(|k| self.without_me(*k))
            .collect();
        for k in passed {
            for (from, round, _) in self.early.remove(&k).unwrap_or_default() {
                self.early_len -= 1;
                if from != self.me {
                    self.excuse(k);
                    self.answers
                        .push((from, outer(k, round), crate::driver::skipped_answer()));
                }
            }
        }
    }

    /// `from` is in a later task of the group than the one this member
    /// runs, and this member still waits for its ACK: `from` may never
    /// have heard ours (sent when a view change made it a member, before
    /// its own node installed that view, and dropped there as from a
    /// stranger), so it is sent to `from` once more, and `from` answers
    /// it: from the instance it finished, or "skipped" (tasks-priority-race
    /// swarm seed 212: a member waited for ever for a joiner).
    fn poke(&mut self, from: &MemberId, key: Key) {
        if self.doing.as_ref().is_some_and(|d| key.0 > d.number) {
            self.send_again(from, true);
        }
    }

    /// `from` joined this member's view and speaks in it (an ordered
    /// message of this view): if this member still waits for its ACK, our
    /// current one goes to it once more, which it answers, if only with
    /// "skipped". The ACK sent as the view change made it a member may
    /// have reached it before its view held us, and been dropped, and a
    /// member that is in no task of ours is never poked
    /// (tasks-random-faults swarm seed 874 on the event loop: a member
    /// waited for ever for a joiner that had run the task on its own side
    /// of a partition). Sent again at each such message, not once: the
    /// first may come from before the joiner's view held us (seed 416).
    fn poke_joiner(&mut self, from: &MemberId, view: ViewId) {
        if self.joiner_left_waiting {
            return;
        }
        let apart = |v: &MembershipChange| !self.apart_unpoked && v.rejoined.contains(from);
        let joined = (self.view.as_ref())
            .is_some_and(|v| v.view == view && (v.joined.contains(from) || apart(v)));
        if joined {
            self.send_again(from, false);
        }
    }

    /// Our current ACK to `from` once more (`once`: only if not sent again
    /// to it in this round before), if this member runs a task and waits
    /// for `from`'s ACK.
    fn send_again(&mut self, from: &MemberId, once: bool) {
        let Some(d) = self.doing.as_ref() else {
            return;
        };
        if *from == self.me || !d.rounds.missing().contains(from) {
            return;
        }
        let Some((round, payload)) = d.rounds.current_ack() else {
            return;
        };
        let outer_round = outer((d.number, d.id), round);
        if !once || self.poked.insert((from.clone(), outer_round)) {
            self.answers.push((from.clone(), outer_round, payload));
        }
    }

    /// Records, once, that this member answers "skipped" for instance
    /// `key`: the trace's word that the member running it need not wait.
    fn excuse(&mut self, key: Key) {
        if self.excused.insert(key) {
            self.event(TaskEvent::Excused {
                task: key.1,
                number: key.0,
            });
        }
    }

    /// Whether this member never takes part in task instance `key`: it
    /// neither began it nor runs it, and either it is one of its group's
    /// (its account chose that task) that is over, or this member ran that
    /// task already, under another number (on its side of a partition),
    /// and so skips it here (`run_next`). Members of its view still in
    /// that instance wait for it until it says so (tasks-random-faults
    /// swarm seed 874 on the event loop: a member that ran tasks 91 and 92
    /// alone while paused off the group never answered the group's
    /// instances of them, and the group waited for ever in each). An
    /// instance it began and abandoned under its present id is not one: it
    /// sent ACKs in it, and a "skipped" in place of one would give two
    /// members of a view two readings of a round. One it abandoned under
    /// an earlier id (its node has since come back under a new
    /// incarnation) is: the members still in it wait for the new id, which
    /// sent nothing in it, and the runner runs no task twice
    /// (tasks-random-faults seed 191: the group waited for ever for a
    /// renamed member that had abandoned the instance under its old name).
    /// (An instance still running at the rename goes on under the new id,
    /// and counts as begun under it: `on_view`.)
    fn without_me(&self, key: Key) -> bool {
        let begun = match self.ran_keys.get(&key) {
            Some(by) => *by == self.me || self.begun_under_old_name,
            None => false,
        };
        let not_begun = !begun && self.doing.as_ref().is_none_or(|d| (d.number, d.id) != key);
        let passed = self.passed(key.0) && self.stream.chosen.contains(&key.1);
        let elsewhere = self.has_run(key.1) && !self.joiner_left_waiting;
        not_begun && (passed || elsewhere)
    }

    /// Whether this member began task `id` (under any number).
    fn has_run(&self, id: u32) -> bool {
        self.ran_keys.keys().any(|(_, t)| *t == id)
    }

    /// Whether the group's task number `n` is over: its boundary passed.
    fn passed(&self, n: u64) -> bool {
        n < self.stream.count() || (n == self.stream.count() && !self.stream.open)
    }

    // ---- this member's own running ----

    /// Begins the next task of the agenda if nothing runs.
    fn run_next(&mut self) {
        while self.doing.is_none() {
            let Some((id, number)) = self.agenda.pop_front() else {
                return;
            };
            // A task whose boundary passed before this member began it
            // did not need it: whoever finished it had every ACK it waited
            // for without this member's (it joined late, or came back).
            if self.has_run(id) || self.passed(number) {
                self.event(TaskEvent::Skipped { task: id });
                continue;
            }
            let Some(mut rounds) = (self.make)(id, self.me.clone()) else {
                self.event(TaskEvent::Skipped { task: id });
                continue;
            };
            self.ran_keys.insert((number, id), self.me.clone());
            self.poked.clear();
            self.event(TaskEvent::Started { task: id });
            if let Some(view) = &self.view {
                let mut fresh = view.clone();
                fresh.joined = fresh.members.clone();
                let _ = rounds.on_view(&fresh);
            }
            self.settle_early();
            let early = self.early.remove(&(number, id)).unwrap_or_default();
            self.early_len -= early.len();
            self.early.retain(|k, acks| {
                let keep = k.0 > number;
                if !keep {
                    self.early_len -= acks.len();
                }
                keep
            });
            let mut doing = Doing { id, number, rounds };
            for (from, round, payload) in early {
                // Answers to early ACKs go out with the next ones.
                let _ = doing.rounds.on_ack(from, round, &payload);
            }
            self.doing = Some(doing);
        }
    }

    /// Keeps an instance this member abandons, to answer the members still
    /// in it (see [`Tasks::on_ack`]).
    fn keep_abandoned(&mut self, d: Doing) {
        if self.abandoned_silent {
            return;
        }
        self.abandoned.push_back(((d.number, d.id), d.rounds));
        while self.abandoned.len() > KEPT {
            self.abandoned.pop_front();
        }
    }

    /// The running task finished with `outcome`.
    fn finish(&mut self, outcome: String) {
        let d = self.doing.take().expect("a task runs");
        self.event(TaskEvent::Finished {
            task: d.id,
            outcome,
        });
        self.submit(TaskMsg::Ready { id: d.id });
        if self.local_boundary && self.stream.current.is_some_and(|(c, _)| c == d.id) {
            // The broken variant: the member picks its next task itself,
            // from what it holds when it finishes.
            self.stream.open = false;
            self.choose(true);
        }
        self.done.push_back(((d.number, d.id), d.rounds));
        while self.done.len() > KEPT {
            self.done.pop_front();
        }
        self.run_next();
    }

    fn collect(&mut self) {
        let Some(d) = self.doing.as_mut() else { return };
        let name = d.rounds.protocol_name();
        let agreement = d.rounds.agreement();
        // Each task's instances are its own: two transaction 0s of two
        // two-phase-commit tasks are two transactions.
        for mut decision in d.rounds.take_decisions() {
            decision.instance = outer((d.number, d.id), decision.instance);
            self.decisions.push((name, agreement, decision));
        }
        for mut vote in d.rounds.take_votes() {
            vote.instance = outer((d.number, d.id), vote.instance);
            self.votes.push(vote);
        }
        if let Some(mut c) = d.rounds.take_completion() {
            c.round = outer((d.number, d.id), c.round);
            self.completion = Some(c);
            self.completed += 1;
        }
    }

    fn outer_next(key: Key, next: Next) -> Next {
        match next {
            Next::Send { round, payload } => Next::Send {
                round: outer(key, round),
                payload,
            },
            other => other,
        }
    }
}

impl Rounds for Tasks {
    fn clone_box(&self) -> Box<dyn Rounds> {
        Box::new(self.clone())
    }
    fn hash_state(&self, mut state: &mut dyn std::hash::Hasher) {
        std::hash::Hash::hash(self, &mut state);
    }
    fn protocol_name(&self) -> &'static str {
        "tasks"
    }

    fn agreement(&self) -> Option<&'static str> {
        None
    }

    fn on_view(&mut self, change: &MembershipChange) -> Option<Next> {
        self.me = change.me.clone();
        self.view = Some(change.clone());
        // An exchange under way ends only in its own view (`try_adopt`):
        // the next `Want` takes its place.
        let adopt = match self.resync.as_mut().filter(|_| self.adopt_across_views) {
            Some(r) => {
                // The broken variant: the members that left answer no more,
                // and it ends with those that answered.
                r.expect.retain(|m| change.members.contains(m));
                true
            }
            None => false,
        };
        self.paused = true;
        // Every view change opens an exchange, not only one that adds
        // members: a member that missed a view in between is told of the
        // next one while the others keep theirs, and it may lack ordered
        // messages they took in the view it missed.
        self.submit(TaskMsg::Want);
        if adopt {
            self.try_adopt();
        }
        for (_, done) in self.done.iter_mut() {
            let _ = done.on_view(change);
        }
        let d = self.doing.as_mut()?;
        let key = (d.number, d.id);
        // A running instance goes on under a new id (its node came back
        // under a new incarnation), and resends its ACK under it: begun
        // under it too, from here on.
        self.ran_keys.insert(key, change.me.clone());
        match d.rounds.on_view(change) {
            Some(Next::Done(outcome)) => {
                self.collect();
                self.finish(outcome);
                None
            }
            Some(next) => Some(Tasks::outer_next(key, next)),
            None => None,
        }
    }

    fn on_ack(
        &mut self,
        from: MemberId,
        round: u64,
        payload: &[u8],
    ) -> Option<(MemberId, u64, Arc<[u8]>)> {
        let key = key_of(round);
        let inner = inner_round(round);
        if let Some(d) = self.doing.as_mut().filter(|d| (d.number, d.id) == key) {
            let reply = d.rounds.on_ack(from, inner, payload);
            return reply.map(|(to, r, p)| (to, outer(key, r), p));
        }
        if let Some((_, done)) = self.done.iter_mut().find(|(k, _)| *k == key) {
            // A member that began the task late may be at or past our last
            // round: the finished instance answers it, so it can finish too
            // (but not an answer: two finished members would keep
            // answering each other).
            let last = done.round();
            let at_or_past = inner >= last && from != self.me && !done.is_answer(payload);
            let reply = match done.on_ack(from.clone(), inner, payload) {
                None if at_or_past => done.answer(inner).map(|p| (from, inner, p)),
                reply => reply,
            };
            // Past our last round the answer is "skipped": this member
            // finished the instance and takes no further part in it, and
            // says so, as a member that never took part does. Members that
            // completed our last round in another view (a member left
            // before its ACK reached them all) read other ACKs there and
            // may need more rounds to finish (tasks-joiner-ran-it swarm
            // seed 734 on the event loop: three members ran two rounds
            // more, which this one answered, and read as passing them
            // before it got there).
            let unacked = reply
                .as_ref()
                .is_some_and(|(_, r, _)| *r > last && done.ack_for(*r).is_none());
            if unacked && !self.finished_unexcused {
                self.excuse(key);
            }
            return reply.map(|(to, r, p)| (to, outer(key, r), p));
        }
        // An instance this member began under its present id and abandoned
        // (the account it adopted moved on): it answers each ACK there
        // with its own ACK for that round, or "skipped" for a round whose
        // ACK it does not hold, so that a member still in it does not wait
        // for it, and no round has two readings of it (tasks-random-faults
        // seed 479 on the event loop: a member that abandoned a task after
        // its first round left one still in it waiting for ever).
        let begun_as_me = self.ran_keys.get(&key) == Some(&self.me);
        let abandoned = begun_as_me
            .then(|| self.abandoned.iter().find(|(k, _)| *k == key))
            .flatten();
        if let Some((_, abandoned)) = abandoned {
            if from == self.me || abandoned.is_answer(payload) {
                return None;
            }
            let answer = abandoned.ack_for(inner);
            if answer.is_none() {
                self.excuse(key);
            }
            let answer = answer.unwrap_or_else(crate::driver::skipped_answer);
            return Some((from, round, answer));
        }
        // A task instance this member never takes part in (the group
        // finished it first, or this member ran the task elsewhere): say
        // so, so that a member still in it does not wait for us.
        // (Never to a "skipped": two such members would answer each other.)
        if self.without_me(key) && from != self.me {
            let skipped = crate::driver::skipped_answer();
            if *payload != *skipped {
                self.excuse(key);
                return Some((from, round, skipped));
            }
        }
        self.poke(&from, key);
        // Kept, up to a bound, for a task this member may yet begin, or learn
        // (from the account it adopts next) that the group finished
        // without it; a number of another history means nothing here yet.
        if self.early_len < EARLY_MAX {
            self.early
                .entry(key)
                .or_default()
                .push((from, inner, payload.to_vec()));
            self.early_len += 1;
        }
        None
    }

    fn round_complete(&self) -> bool {
        self.doing
            .as_ref()
            .is_none_or(|d| d.rounds.round() == 0 || d.rounds.round_complete())
    }

    fn missing(&self) -> Vec<MemberId> {
        self.doing
            .as_ref()
            .map(|d| d.rounds.missing())
            .unwrap_or_default()
    }

    fn round(&self) -> u64 {
        self.doing
            .as_ref()
            .map_or(0, |d| outer((d.number, d.id), d.rounds.round()))
    }

    fn view_id(&self) -> ViewId {
        self.view.as_ref().map_or(ViewId(0), |v| v.view)
    }

    fn rounds_completed(&self) -> u64 {
        self.completed
    }

    fn step(&mut self) -> Next {
        let Some(d) = self.doing.as_mut() else {
            return Next::Idle;
        };
        let key = (d.number, d.id);
        let next = d.rounds.step();
        self.collect();
        match next {
            Next::Done(outcome) => {
                self.finish(outcome);
                Next::Idle
            }
            Next::Idle => Next::Idle,
            other => Tasks::outer_next(key, other),
        }
    }

    fn take_decisions(&mut self) -> Vec<Decision> {
        self.decisions.drain(..).map(|(_, _, d)| d).collect()
    }

    fn take_named_decisions(&mut self) -> Vec<(&'static str, Option<&'static str>, Decision)> {
        std::mem::take(&mut self.decisions)
    }

    fn take_votes(&mut self) -> Vec<Vote> {
        std::mem::take(&mut self.votes)
    }

    fn take_completion(&mut self) -> Option<Completion> {
        self.completion.take()
    }

    fn on_ordered(&mut self, from: &MemberId, view: ViewId, _seq: u64, msg: &JobMsg) {
        self.poke_joiner(from, view);
        if let Some(m) = TaskMsg::decode(&msg.payload) {
            self.on_stream(from, msg.round, m);
        }
    }

    fn idle(&self) -> bool {
        self.doing.is_none()
    }

    fn take_answers(&mut self) -> Vec<(MemberId, u64, Arc<[u8]>)> {
        std::mem::take(&mut self.answers)
    }

    fn take_submissions(&mut self) -> Vec<Arc<[u8]>> {
        std::mem::take(&mut self.submissions)
    }

    fn take_task_events(&mut self) -> Vec<TaskEvent> {
        std::mem::take(&mut self.events)
    }

    fn take_probes(&mut self) -> Vec<&'static str> {
        let mut probes = std::mem::take(&mut self.probes);
        if let Some(d) = self.doing.as_mut() {
            probes.extend(d.rounds.take_probes());
        }
        for (_, rounds) in self.done.iter_mut() {
            probes.extend(rounds.take_probes());
        }
        probes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Barrier, RoundDriver};
    use vigil_engine::{Incarnation, Name, NodeId};

    fn m(n: u16) -> MemberId {
        MemberId {
            job: Name::new("ops"),
            node: NodeId(n),
            node_incarnation: Incarnation(1),
            registration: 1,
        }
    }

    fn view(id: u64, me: u16, members: &[u16]) -> MembershipChange {
        MembershipChange {
            group: Name::new("g"),
            view: ViewId(id),
            me: m(me),
            members: members.iter().map(|n| m(*n)).collect(),
            joined: members.iter().map(|n| m(*n)).collect(),
            left: vec![],
            rejoined: vec![],
            primary: None,
        }
    }

    fn runner(me: u16) -> Tasks {
        Tasks::new(
            m(me),
            Arc::new(|_, me| Some(Box::new(RoundDriver::new(Barrier { rounds: Some(1) }, me)))),
        )
    }

    fn msg(from: u16, n: u64, t: &TaskMsg) -> (MemberId, JobMsg) {
        let job = JobMsg {
            thread: 0,
            round: n,
            payload: t.encode(),
            priority: false,
        };
        (m(from), job)
    }

    /// Takes the view, then the group's exchange of accounts, as the
    /// members `members` answer it (all with none: the group is new).
    fn start(r: &mut Tasks, me: u16, members: &[u16]) {
        let _ = r.on_view(&view(1, me, members));
        let want = (m(members[0]), 1);
        let (from, j) = msg(members[0], 1, &TaskMsg::Want);
        r.on_ordered(&from, ViewId(1), 1, &j);
        for (k, n) in members.iter().enumerate() {
            let state = TaskMsg::State {
                want: want.clone(),
                stream: None,
            };
            let (from, j) = msg(*n, 2 + k as u64, &state);
            r.on_ordered(&from, ViewId(1), 2 + k as u64, &j);
        }
        r.take_submissions();
    }

    fn deliver(r: &mut Tasks, from: u16, n: u64, t: TaskMsg) {
        let (from, j) = msg(from, n, &t);
        r.on_ordered(&from, ViewId(1), n, &j);
    }

    fn chosen(r: &mut Tasks) -> Vec<u32> {
        r.take_task_events()
            .into_iter()
            .filter_map(|e| match e {
                TaskEvent::Chosen { task, .. } => Some(task),
                _ => None,
            })
            .collect()
    }

    fn task(id: u32, priority: bool) -> TaskMsg {
        TaskMsg::Task { id, priority }
    }

    #[test]
    fn a_priority_task_goes_ahead_of_older_tasks_at_the_next_boundary() {
        let mut r = runner(0);
        start(&mut r, 0, &[0]);
        deliver(&mut r, 0, 10, task(0, false));
        deliver(&mut r, 0, 11, task(1, false));
        deliver(&mut r, 0, 12, task(2, false));
        deliver(&mut r, 0, 13, task(3, true));
        assert_eq!(chosen(&mut r), vec![0], "task 0 began at once");
        deliver(&mut r, 0, 14, TaskMsg::Ready { id: 0 });
        assert_eq!(
            chosen(&mut r),
            vec![3],
            "the priority task overtakes 1 and 2"
        );
        deliver(&mut r, 0, 15, TaskMsg::Ready { id: 3 });
        deliver(&mut r, 0, 16, TaskMsg::Ready { id: 1 });
        assert_eq!(chosen(&mut r), vec![1, 2]);
    }

    #[test]
    fn members_choose_at_the_groups_boundary_not_their_own() {
        // Member 1 finishes task 0 before the priority task reaches it,
        // member 2 after; both take the stream in one order, in which
        // member 1's word that it finished comes first.
        let stream = [
            (1, task(0, false)),
            (1, task(1, false)),
            (1, TaskMsg::Ready { id: 0 }),
            (2, task(2, true)),
            (2, TaskMsg::Ready { id: 0 }),
        ];
        let mut choices = Vec::new();
        for me in [1, 2] {
            let mut r = runner(me);
            start(&mut r, me, &[1, 2]);
            for (k, (from, t)) in stream.iter().enumerate() {
                deliver(&mut r, *from, 20 + k as u64, t.clone());
            }
            choices.push(chosen(&mut r));
        }
        assert_eq!(choices[0], vec![0, 1], "task 2 came after the boundary");
        assert_eq!(choices[0], choices[1]);
    }

    #[test]
    fn the_broken_variant_chooses_by_its_own_boundary() {
        // `local-boundary`: a member that finishes picks from what it holds,
        // so a member that finished after the priority task arrived picks
        // it, and one that finished before does not.
        let mut picks = Vec::new();
        for late in [false, true] {
            let mut r = runner(1);
            r.local_boundary = true;
            start(&mut r, 1, &[1]);
            deliver(&mut r, 1, 10, task(0, false));
            deliver(&mut r, 1, 11, task(1, false));
            if late {
                deliver(&mut r, 1, 12, task(2, true));
            }
            r.take_task_events();
            // Run task 0 to its end: one round of a barrier, alone.
            let Next::Send { round, payload } = r.step() else {
                panic!("task 0 sends its ACK")
            };
            let _ = r.on_ack(m(1), round, &payload);
            assert_eq!(r.step(), Next::Idle);
            picks.push(chosen(&mut r));
        }
        assert_ne!(picks[0], picks[1], "{picks:?}");
    }

    #[test]
    fn a_joiner_takes_the_queue_from_the_members_account() {
        let mut old = runner(0);
        start(&mut old, 0, &[0]);
        deliver(&mut old, 0, 10, task(0, false));
        deliver(&mut old, 0, 11, task(1, false));
        deliver(&mut old, 0, 12, task(4, true));
        old.take_task_events();
        let account = old.stream.clone();
        // Member 1 joins: both take view 2, the first `Want`, and the two
        // accounts (member 1 has none).
        let mut new = runner(1);
        for r in [&mut old, &mut new] {
            let me = r.me.node.0;
            let _ = r.on_view(&view(2, me, &[0, 1]));
            deliver(r, 1, 30, TaskMsg::Want);
            let want = (m(1), 30);
            deliver(
                r,
                0,
                31,
                TaskMsg::State {
                    want: want.clone(),
                    stream: Some(account.clone()),
                },
            );
            deliver(r, 1, 32, TaskMsg::State { want, stream: None });
        }
        assert_eq!(old.stream, new.stream);
        assert_eq!(new.stream.queue, vec![(1, false), (4, true)]);
        assert_eq!(new.stream.current, Some((0, 1)));
        // The next boundary picks the same task at both.
        for r in [&mut old, &mut new] {
            r.take_task_events();
            deliver(r, 0, 33, TaskMsg::Ready { id: 0 });
        }
        assert_eq!(chosen(&mut old), vec![4]);
        assert_eq!(chosen(&mut new), vec![4]);
        // A member that joins after that boundary was not in task 0 (the
        // group's task number 1): an ACK of it, from a member still in it,
        // is answered "skipped", and the member says once that it is
        // excused.
        let mut late = runner(2);
        let _ = late.on_view(&view(3, 2, &[0, 1, 2]));
        deliver(&mut late, 2, 40, TaskMsg::Want);
        let want = (m(2), 40);
        for (k, (from, stream)) in [
            (0, Some(old.stream.clone())),
            (1, Some(new.stream.clone())),
            (2, None),
        ]
        .into_iter()
        .enumerate()
        {
            let state = TaskMsg::State {
                want: want.clone(),
                stream,
            };
            deliver(&mut late, from, 41 + k as u64, state);
        }
        late.take_task_events();
        for _ in 0..2 {
            let reply = late.on_ack(m(0), outer((1, 0), 1), &[]);
            let (to, round, payload) = reply.expect("an answer");
            assert_eq!((to, round), (m(0), outer((1, 0), 1)));
            assert_eq!(payload, crate::driver::skipped_answer());
        }
        let excused: Vec<TaskEvent> = late
            .take_task_events()
            .into_iter()
            .filter(|e| matches!(e, TaskEvent::Excused { .. }))
            .collect();
        assert_eq!(excused, vec![TaskEvent::Excused { task: 0, number: 1 }]);
    }

    /// What a member answered to one ACK, if anything.
    type Answer = Option<Arc<[u8]>>;

    /// Member `me` of a view of members 0 and 1 runs task 0 (the group's
    /// task number 1) and has sent its ACK of round 1: it, the round and
    /// the ACK.
    fn acked_task_0(me: u16) -> (Tasks, u64, Arc<[u8]>) {
        let mut r = runner(me);
        start(&mut r, me, &[0, 1]);
        deliver(&mut r, 0, 10, task(0, false));
        let Next::Send { round, payload } = r.step() else {
            panic!("task 0 sends its ACK")
        };
        assert_eq!(round, outer((1, 0), 1));
        (r, round, payload)
    }

    /// Member 1 begins task 0 in a view of members 0 and 1, sends its ACK
    /// of round 1 and abandons the task: what it answers to member 0's
    /// ACKs of rounds 1 and 2 of that instance, and the instances it says
    /// it takes no further part in (`broken`: the variant
    /// `abandoned-silent`).
    fn answers_from_an_abandoned_instance(broken: bool) -> (Vec<Answer>, Vec<TaskEvent>) {
        let (mut r, _, payload) = acked_task_0(1);
        r.abandoned_silent = broken;
        let d = r.doing.take().expect("task 0 runs");
        r.keep_abandoned(d);
        r.take_task_events();
        let answers = [1, 2]
            .into_iter()
            .map(|inner| r.on_ack(m(0), outer((1, 0), inner), &payload))
            .map(|reply| {
                reply.map(|(to, _, answer)| {
                    assert_eq!(to, m(0));
                    answer
                })
            })
            .collect();
        (answers, r.take_task_events())
    }

    #[test]
    fn an_abandoned_instance_answers_each_round_as_it_left_it() {
        // Round 1: the ACK it sent (one reading of the round); round 2,
        // which it never reached: "skipped", and word that it takes no
        // further part in the instance.
        use crate::driver::{Sent, WireAck};
        let (answers, events) = answers_from_an_abandoned_instance(false);
        let read = |a: &Answer| {
            a.as_ref()
                .and_then(|a| WireAck::<()>::view(a))
                .map(|w| w.ack)
        };
        assert_eq!(read(&answers[0]), Some(Sent::Ack(())), "{answers:?}");
        assert_eq!(answers[1], Some(crate::driver::skipped_answer()));
        assert_eq!(events, vec![TaskEvent::Excused { task: 0, number: 1 }]);
        let (answers, _) = answers_from_an_abandoned_instance(true);
        assert_eq!(
            answers,
            vec![None, None],
            "the broken variant never answers"
        );
    }

    /// Member 0, of a view of members 0 and 1, answers an exchange member 1
    /// opened; member 1 leaves before it answers; then task 5 arrives, and
    /// then the new view's own exchange, with member 0 alone. The tasks
    /// member 0 chose before that exchange ended, and the ones it started
    /// after (`broken`: the variant `adopt-across-views`).
    fn choices_across_a_view_change(broken: bool) -> (Vec<u32>, Vec<u32>) {
        let mut r = runner(0);
        r.adopt_across_views = broken;
        start(&mut r, 0, &[0, 1]);
        deliver(&mut r, 1, 20, TaskMsg::Want);
        let answer = TaskMsg::State {
            want: (m(1), 20),
            stream: Some(r.stream.clone()),
        };
        deliver(&mut r, 0, 21, answer);
        let mut change = view(2, 0, &[0]);
        change.left = vec![(m(1), vigil_engine::LeaveReason::NodeDown)];
        let _ = r.on_view(&change);
        deliver(&mut r, 0, 22, task(5, false));
        let before = chosen(&mut r);
        deliver(&mut r, 0, 23, TaskMsg::Want);
        let answer = TaskMsg::State {
            want: (m(0), 23),
            stream: Some(r.stream.clone()),
        };
        deliver(&mut r, 0, 24, answer);
        let started = (r.take_task_events().into_iter())
            .filter_map(|e| match e {
                TaskEvent::Started { task } => Some(task),
                _ => None,
            })
            .collect();
        (before, started)
    }

    #[test]
    fn an_exchange_of_accounts_ends_only_in_the_view_it_began_in() {
        // Ended in the new view with member 0's answer alone, it would let
        // member 0 choose from its own account while the others of its new
        // view chose from theirs. It waits for the new view's exchange.
        assert_eq!(choices_across_a_view_change(false), (vec![], vec![5]));
        let (before, _) = choices_across_a_view_change(true);
        assert_eq!(before, vec![5], "the broken variant chooses at once");
    }

    /// Member 0, of a view of members 0 and 1, answers an exchange member 1
    /// opened; member 2 joins; member 1's answer comes in the new view,
    /// then task 5. The tasks member 0 chose (`broken`: the variant
    /// `adopt-across-views`).
    fn choices_when_an_old_exchange_completes_in_a_new_view(broken: bool) -> Vec<u32> {
        let mut r = runner(0);
        r.adopt_across_views = broken;
        start(&mut r, 0, &[0, 1]);
        deliver(&mut r, 1, 20, TaskMsg::Want);
        let stream = Some(r.stream.clone());
        let answer = |stream| TaskMsg::State {
            want: (m(1), 20),
            stream,
        };
        deliver(&mut r, 0, 21, answer(stream.clone()));
        let mut change = view(2, 0, &[0, 1, 2]);
        change.joined = vec![m(2)];
        let _ = r.on_view(&change);
        deliver(&mut r, 1, 22, answer(stream));
        deliver(&mut r, 1, 23, task(5, false));
        chosen(&mut r)
    }

    #[test]
    fn an_exchange_of_the_last_view_does_not_end_in_the_next() {
        // Every member it waited for answered, but in a view with a joiner
        // that took no part in it: ended there, member 0 would choose from
        // an account the joiner does not hold.
        assert_eq!(
            choices_when_an_old_exchange_completes_in_a_new_view(false),
            Vec::<u32>::new()
        );
        assert_eq!(
            choices_when_an_old_exchange_completes_in_a_new_view(true),
            vec![5],
            "the broken variant chooses at once"
        );
    }

    /// Member 1 of the view of members 0 and 1 under its node's next
    /// incarnation.
    fn renamed_view() -> MembershipChange {
        let mut change = view(2, 1, &[0, 1]);
        change.me.node_incarnation = Incarnation(2);
        change.members[1] = change.me.clone();
        change.joined = vec![change.me.clone()];
        change
    }

    /// Member 1 begins task 0 (the group's task number 1) in a view of
    /// members 0 and 1, sends its ACK of round 1 and abandons the task;
    /// `renamed`: its node comes back under a new incarnation, before it
    /// abandons the task (`first`) or after. What it answers to member 0's
    /// ACK of round 1 (`broken`: an instance begun under an earlier id
    /// counts as begun under this one).
    fn answer_after_a_rename(renamed: Option<&str>, broken: bool) -> Option<Arc<[u8]>> {
        let (mut r, round, payload) = acked_task_0(1);
        r.begun_under_old_name = broken;
        if renamed == Some("first") {
            let _ = r.on_view(&renamed_view());
        }
        // (As when it adopts an account that does not run the task.)
        let d = r.doing.take().expect("task 0 runs");
        r.keep_abandoned(d);
        if renamed == Some("after") {
            let _ = r.on_view(&renamed_view());
        }
        let reply = r.on_ack(m(0), round, &payload);
        reply.map(|(to, at, answer)| {
            assert_eq!((to, at), (m(0), round));
            answer
        })
    }

    #[test]
    fn a_renamed_member_answers_skipped_in_an_instance_it_abandoned_under_its_old_name() {
        // Under its own name it sent an ACK in the instance and answers
        // with it; renamed while the task ran, the task went on (and
        // resent that ACK) under the new name, which answers with it too.
        // Renamed after it abandoned the task, the members still in it wait
        // for the new name, which never sent one there: "skipped".
        let skipped = crate::driver::skipped_answer();
        let unnamed = answer_after_a_rename(None, false);
        assert!(
            unnamed.as_ref().is_some_and(|a| *a != skipped),
            "{unnamed:?}"
        );
        assert_eq!(answer_after_a_rename(Some("first"), false), unnamed);
        assert_eq!(answer_after_a_rename(Some("after"), false), Some(skipped));
        assert_eq!(
            answer_after_a_rename(Some("after"), true),
            None,
            "the broken variant never answers"
        );
    }

    /// Member 0, of a view of members 0 and 1, runs task 0 (the group's
    /// task number 1) and waits for member 1's ACK: it, its round and its
    /// ACK, with nothing answered yet (`broken`: the variant
    /// `joiner-left-waiting`).
    fn waiting_for_member_1(broken: bool) -> (Tasks, u64, Arc<[u8]>) {
        let (mut r, round, payload) = acked_task_0(0);
        r.joiner_left_waiting = broken;
        let _ = r.on_ack(m(0), round, &payload);
        r.take_answers();
        (r, round, payload)
    }

    #[test]
    fn a_member_ahead_that_never_acked_our_round_is_sent_it_again_once() {
        // Member 0 runs task 0 (the group's task number 1) and waits for
        // member 1's ACK; member 1 is already in a later task (it never
        // heard ours): member 0 sends it its ACK again, once.
        let (mut r, round, payload) = waiting_for_member_1(false);
        for _ in 0..2 {
            assert_eq!(r.on_ack(m(1), outer((2, 5), 1), &payload), None);
        }
        let answers = r.take_answers();
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert_eq!((&answers[0].0, answers[0].1), (&m(1), round));
        // A member in an earlier task, or one whose ACK came, is not.
        let _ = r.on_ack(m(1), outer((0, 5), 1), &payload);
        assert!(r.take_answers().is_empty());
    }

    /// Member 0 runs task 0 and waits for member 1, a member of its view
    /// that joined it: what member 0 answered to each ordered message of
    /// member 1's in `view` (`broken`: the variant `joiner-left-waiting`).
    fn answers_to_a_joiner(view: u64, messages: u64, broken: bool) -> Vec<(MemberId, u64)> {
        let (mut r, _, _) = waiting_for_member_1(broken);
        for k in 0..messages {
            let (from, j) = msg(1, 20 + k, &task(5 + k as u32, false));
            r.on_ordered(&from, ViewId(view), 20 + k, &j);
        }
        let answers = r.take_answers();
        answers
            .into_iter()
            .map(|(to, round, _)| (to, round))
            .collect()
    }

    #[test]
    fn a_joiner_that_speaks_in_the_view_is_sent_our_ack_again_each_time() {
        // Its first message may come from before its view held us, so
        // each one brings our ACK again, not only the first.
        let round = outer((1, 0), 1);
        assert_eq!(
            answers_to_a_joiner(1, 2, false),
            vec![(m(1), round), (m(1), round)]
        );
        assert_eq!(answers_to_a_joiner(2, 2, false), vec![], "another view's");
        assert_eq!(
            answers_to_a_joiner(1, 2, true),
            vec![],
            "the broken variant"
        );
    }

    #[test]
    fn a_resend_to_a_joiner_leaves_the_poke_its_one_resend() {
        let (mut r, _, payload) = waiting_for_member_1(false);
        deliver(&mut r, 1, 20, task(5, false));
        assert_eq!(r.take_answers().len(), 1, "the joiner's resend");
        let _ = r.on_ack(m(1), outer((2, 5), 1), &payload);
        assert_eq!(r.take_answers().len(), 1, "the poke's");
    }

    /// Member 0, alone, finishes task 0, and its `Ready` is lost (its node
    /// came back under a new incarnation first); then a view of its own,
    /// whose exchange it answers with its account, task 0 still open. What
    /// it submits then (`broken`: the variant `ready-once`).
    fn submitted_after_adopting_a_task_it_finished(broken: bool) -> Vec<TaskMsg> {
        let mut r = runner(0);
        r.ready_once = broken;
        start(&mut r, 0, &[0]);
        deliver(&mut r, 0, 10, task(0, false));
        assert!(matches!(r.step(), Next::Send { .. }), "task 0 runs");
        r.finish("passed".into());
        assert_eq!(decode(r.take_submissions()), vec![TaskMsg::Ready { id: 0 }]);
        let _ = r.on_view(&view(2, 0, &[0]));
        assert_eq!(decode(r.take_submissions()), vec![TaskMsg::Want]);
        let (from, j) = msg(0, 1, &TaskMsg::Want);
        r.on_ordered(&from, ViewId(2), 1, &j);
        let answer = TaskMsg::State {
            want: (m(0), 1),
            stream: Some(r.stream.clone()),
        };
        let (from, j) = msg(0, 2, &answer);
        r.on_ordered(&from, ViewId(2), 2, &j);
        assert_eq!(r.stream.current, Some((0, 1)), "the account runs task 0");
        assert!(r.stream.open);
        decode(r.take_submissions())
    }

    fn decode(submissions: Vec<Arc<[u8]>>) -> Vec<TaskMsg> {
        (submissions.iter())
            .map(|s| TaskMsg::decode(s).expect("a task message"))
            .collect()
    }

    #[test]
    fn a_member_that_finished_the_task_an_adopted_account_runs_says_so_again() {
        // Else no member of the view may be left to close it, and the
        // group never begins another task (`task-order`).
        let ready = TaskMsg::Ready { id: 0 };
        let fixed = submitted_after_adopting_a_task_it_finished(false);
        assert!(fixed.contains(&ready), "{fixed:?}");
        assert!(
            !submitted_after_adopting_a_task_it_finished(true).contains(&ready),
            "the broken variant waits"
        );
    }

    #[test]
    fn a_member_that_ran_a_task_elsewhere_answers_skipped_for_the_groups_instance() {
        // Member 1 ran task 7 as its side's task number 1; the group runs
        // it as number 2, and member 0 waits in it for member 1.
        for broken in [false, true] {
            let mut r = runner(1);
            r.joiner_left_waiting = broken;
            start(&mut r, 1, &[0, 1]);
            r.ran_keys.insert((1, 7), m(1));
            let reply = r.on_ack(m(0), outer((2, 7), 1), &[]);
            if broken {
                assert_eq!(reply, None, "the broken variant never answers");
                continue;
            }
            let skipped = crate::driver::skipped_answer();
            assert_eq!(reply, Some((m(0), outer((2, 7), 1), skipped.clone())));
            let excused: Vec<TaskEvent> = (r.take_task_events().into_iter())
                .filter(|e| matches!(e, TaskEvent::Excused { .. }))
                .collect();
            assert_eq!(excused, vec![TaskEvent::Excused { task: 7, number: 2 }]);
            // Its instance under number 1 is its own; a "skipped" is not
            // answered (two such members would answer each other).
            assert_eq!(r.on_ack(m(0), outer((2, 7), 1), &skipped), None);
            assert_eq!(r.on_ack(m(0), outer((1, 7), 1), &[]), None);
        }
    }

    #[test]
    fn round_numbers_name_the_task_and_its_place() {
        let k = (7, 12);
        assert_eq!(key_of(outer(k, 5)), k);
        assert_eq!(inner_round(outer(k, 5)), 5);
        assert!(
            outer((7, 1), 9) < outer((8, 0), 1),
            "rounds grow from task to task"
        );
        assert_ne!(
            outer((7, 1), 1),
            outer((7, 2), 1),
            "two histories, two instances"
        );
    }
}
