//! Live updates: a server-sent event stream that says "something changed" when the store
//! announces new work or ended tasks, for the pages to refresh what they show.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as Shared;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;

use crate::State;

/// Changes within this long are told as one: a busy queue must not make pages reload
/// hundreds of times a second.
const COALESCE: Duration = Duration::from_millis(500);

/// Notifications can be lost: with none for this long, the stream says "changed" anyway.
const LOOK_AGAIN: Duration = Duration::from_secs(15);

/// `event: change` with a counter, at most every [`COALESCE`], and at least every
/// [`LOOK_AGAIN`].
pub(crate) async fn stream(
    Shared(state): Shared<Arc<State>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = state.inspector.changes();
    let events = futures_util::stream::unfold(changes, |mut changes| async move {
        match tokio::time::timeout(LOOK_AGAIN, changes.changed()).await {
            Ok(Err(_)) => return None, // the store stopped announcing: end the stream
            Ok(Ok(())) => tokio::time::sleep(COALESCE).await,
            Err(_) => {}
        }
        let count = *changes.borrow_and_update();
        let event = Event::default().event("change").data(count.to_string());
        Some((Ok(event), changes))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
