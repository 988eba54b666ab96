//! The checkpoint writer: step records from all of a worker's running executions, written
//! in batches (one statement for every checkpoint that piled up during the previous
//! write), each still fenced by its own lease.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use zart_core::queue::Lease;
use zart_core::steps::{Checkpointed, StepRecord};
use zart_core::store::Store;

/// Most checkpoints written by one statement.
const MAX_BATCH: usize = 500;

struct Request {
    lease: Lease,
    record: StepRecord,
    reply: oneshot::Sender<Result<Checkpointed, String>>,
}

/// Hands checkpoints to the worker's writer.
#[derive(Clone)]
pub(crate) struct Checkpoints(mpsc::UnboundedSender<Request>);

impl Checkpoints {
    /// A writer over `store`, and the future that runs it (until every handle is gone).
    pub(crate) fn start(
        store: Arc<dyn Store>,
    ) -> (Checkpoints, impl std::future::Future<Output = ()>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Checkpoints(sender), write(store, receiver))
    }

    /// Writes one checkpoint with the next batch; `Err`: the batch could not be written.
    pub(crate) async fn save(
        &self,
        lease: &Lease,
        record: StepRecord,
    ) -> Result<Checkpointed, String> {
        let began = std::time::Instant::now();
        let (reply, answer) = oneshot::channel();
        let request = Request {
            lease: lease.clone(),
            record,
            reply,
        };
        self.0
            .send(request)
            .map_err(|_| "the worker is shutting down".to_owned())?;
        let written = answer
            .await
            .map_err(|_| "the checkpoint writer stopped".to_owned())?;
        crate::metrics::checkpoint_written(began.elapsed());
        written
    }
}

async fn write(store: Arc<dyn Store>, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut batch = Vec::new();
    while let Some(first) = requests.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let steps: Vec<(Lease, StepRecord)> = batch
            .iter()
            .map(|r| (r.lease.clone(), r.record.clone()))
            .collect();
        match store.save_steps(&steps).await {
            Ok(saved) => {
                for (request, saved) in batch.drain(..).zip(saved) {
                    let _ = request.reply.send(Ok(saved));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(message.clone()));
                }
            }
        }
    }
}
