//! Shared queues (proxy-wasm-cpp-host `SharedQueue`): named FIFOs shared by every worker.
//!
//! A queue is registered by name; registering again hands ownership to the new caller and
//! keeps the token. `enqueue` notifies the owner with `proxy_on_queue_ready`, which Envoy
//! posts to the owner's thread; here the notification waits until the test calls
//! [`Worker::deliver_queue_ready`](super::Worker::deliver_queue_ready).

use super::status::Status;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Clone, Debug, Default)]
pub(crate) struct SharedQueues {
    inner: Arc<Mutex<Queues>>,
}

#[derive(Debug, Default)]
struct Queues {
    by_name: BTreeMap<(String, String), u32>,
    queues: BTreeMap<u32, Queue>,
    /// `(worker, context, token)` notifications not yet delivered.
    ready: Vec<(u64, u32, u32)>,
}

#[derive(Debug)]
struct Queue {
    owner_worker: u64,
    owner_context: u32,
    items: VecDeque<Vec<u8>>,
}

impl SharedQueues {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn register(&self, vm_id: &str, name: &str, worker: u64, context: u32) -> u32 {
        let mut q = self.lock();
        let key = (vm_id.to_string(), name.to_string());
        if let Some(&token) = q.by_name.get(&key) {
            if let Some(queue) = q.queues.get_mut(&token) {
                queue.owner_worker = worker;
                queue.owner_context = context;
            }
            return token;
        }
        // Tokens start at 1, as in proxy-wasm-cpp-host.
        let token = u32::try_from(q.queues.len() + 1).unwrap_or(u32::MAX);
        q.by_name.insert(key, token);
        q.queues.insert(
            token,
            Queue {
                owner_worker: worker,
                owner_context: context,
                items: VecDeque::new(),
            },
        );
        token
    }

    pub(crate) fn resolve(&self, vm_id: &str, name: &str) -> Option<u32> {
        self.lock()
            .by_name
            .get(&(vm_id.to_string(), name.to_string()))
            .copied()
    }

    pub(crate) fn enqueue(&self, token: u32, value: &[u8]) -> Status {
        let mut q = self.lock();
        let Some(queue) = q.queues.get_mut(&token) else {
            return Status::NotFound;
        };
        queue.items.push_back(value.to_vec());
        let note = (queue.owner_worker, queue.owner_context, token);
        q.ready.push(note);
        Status::Ok
    }

    pub(crate) fn dequeue(&self, token: u32) -> Result<Vec<u8>, Status> {
        let mut q = self.lock();
        let queue = q.queues.get_mut(&token).ok_or(Status::NotFound)?;
        queue.items.pop_front().ok_or(Status::Empty)
    }

    /// Takes the pending `(context, token)` notifications for one worker.
    pub(crate) fn take_ready(&self, worker: u64) -> Vec<(u32, u32)> {
        let mut q = self.lock();
        let (mine, others): (Vec<_>, Vec<_>) = q.ready.drain(..).partition(|n| n.0 == worker);
        q.ready = others;
        mine.into_iter()
            .map(|(_, ctx, token)| (ctx, token))
            .collect()
    }
}
