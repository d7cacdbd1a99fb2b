//! The events feed: one follower of the event log for the whole dashboard, fanned out to every
//! connected client, so a hundred open pages cost what one does. A client that reconnects
//! with `Last-Event-ID` gets what it missed from the log first, then the live feed.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast;

use crate::events::{self, Event, Follower};

/// How many live events a slow client may fall behind before it is sent the missed ones from
/// the log instead.
const CHANNEL: usize = 1024;

/// The live feed of new events.
#[derive(Clone)]
pub struct Feed {
    city_dir: PathBuf,
    sender: broadcast::Sender<Arc<Event>>,
}

impl Feed {
    /// Starts following the log of `city_dir` from its end, on a thread of its own woken by
    /// file-system notifications (with a slow poll as a fallback).
    pub fn start(city_dir: &Path) -> Feed {
        let (sender, _) = broadcast::channel(CHANNEL);
        let end = std::fs::metadata(events::log_path(city_dir)).map_or(0, |m| m.len());
        let mut follower = Follower::new(city_dir, end);
        let tx = sender.clone();
        std::thread::Builder::new()
            .name("dashboard-events".into())
            .spawn(move || {
                loop {
                    match follower.wait(Duration::from_secs(5)) {
                        Ok(new) => {
                            for event in new {
                                // No client listening is not an error.
                                let _ = tx.send(Arc::new(event));
                            }
                        }
                        Err(e) => {
                            tracing::warn!("cannot read the event log: {e}");
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
            })
            .expect("a thread can be started");
        Feed { city_dir: city_dir.to_path_buf(), sender }
    }

    /// The event stream for one client: the events after `after` (from the log), then every
    /// new one as it is appended; each carries its `seq` as its SSE id.
    pub fn sse(
        &self,
        after: Option<u64>,
    ) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>> {
        // Subscribe before reading the backlog, so nothing falls between them; duplicates are
        // dropped by seq.
        let receiver = self.sender.subscribe();
        let backlog: VecDeque<Arc<Event>> = match after {
            Some(seq) => events::read_since(&self.city_dir, seq)
                .unwrap_or_default()
                .into_iter()
                .map(Arc::new)
                .collect(),
            None => VecDeque::new(),
        };
        let state =
            Client { city_dir: self.city_dir.clone(), receiver, backlog, last: after.unwrap_or(0) };
        let stream = futures::stream::unfold(state, |mut client| async move {
            let event = client.next().await?;
            Some((Ok(to_sse(&event)), client))
        });
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}

/// One connected client's place in the feed.
struct Client {
    city_dir: PathBuf,
    receiver: broadcast::Receiver<Arc<Event>>,
    backlog: VecDeque<Arc<Event>>,
    last: u64,
}

impl Client {
    /// The next event to send, or `None` when the feed has ended.
    async fn next(&mut self) -> Option<Arc<Event>> {
        loop {
            let event = match self.backlog.pop_front() {
                Some(event) => event,
                None => match self.receiver.recv().await {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind the live feed: take what was missed from the log.
                        let missed =
                            events::read_since(&self.city_dir, self.last).unwrap_or_default();
                        self.backlog.extend(missed.into_iter().map(Arc::new));
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            if event.seq > self.last {
                self.last = event.seq;
                return Some(event);
            }
        }
    }
}

fn to_sse(event: &Event) -> SseEvent {
    let data = serde_json::to_string(event).expect("events serialise");
    SseEvent::default().id(event.seq.to_string()).event("event").data(data)
}
