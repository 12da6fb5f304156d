//! The room directory: which rooms exist, across instances.
//!
//! Presence can list the members of a room but not the rooms themselves, so each instance
//! keeps a directory: the default rooms, the rooms joined here, and the rooms other
//! instances announce on [`ROOMS_TOPIC`] (when a room is created, and every
//! [`room_announce_interval`](crate::ChatConfig::room_announce_interval) for the rooms that
//! have members here). A room without members that nobody announced for three intervals is
//! forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use swill::pubsub::{PubSub, Recv};
use swill::Error;
use tokio::time::Instant;

use crate::{is_room_name, room_topic, ChatConfig, DEFAULT_ROOMS, ROOMS_TOPIC};

/// The announcement instances exchange on [`ROOMS_TOPIC`].
#[derive(Debug, Serialize, Deserialize)]
struct RoomsNotice {
    rooms: Vec<String>,
}

/// The room directory of one instance; cheap to clone (app state).
#[derive(Debug, Clone)]
pub struct Rooms(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    pubsub: PubSub,
    max: usize,
    interval: Duration,
    /// Rooms beyond the defaults, with when they were last joined or announced.
    seen: Mutex<HashMap<String, Instant>>,
}

impl Rooms {
    /// The directory of the instance that publishes with `pubsub`.
    pub fn new(pubsub: PubSub, config: &ChatConfig) -> Self {
        Self(Arc::new(Inner {
            pubsub,
            max: config.max_rooms.max(DEFAULT_ROOMS.len()),
            interval: config.room_announce_interval,
            seen: Mutex::default(),
        }))
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the rooms nobody joined or announced for three intervals and that have no
    /// subscriber here.
    fn prune(&self, seen: &mut HashMap<String, Instant>) {
        let horizon = self.0.interval.saturating_mul(3);
        let now = Instant::now();
        let pubsub = &self.0.pubsub;
        seen.retain(|room, at| {
            now.duration_since(*at) < horizon
                || pubsub.local_subscriber_count(&room_topic(room)) > 0
        });
    }

    /// Lets `room` be joined: a default or known room, or a new one while there is room for
    /// it. A new room is announced to the other instances.
    ///
    /// # Errors
    ///
    /// 429 when the directory is full.
    pub async fn admit(&self, room: &str) -> Result<(), Error> {
        if DEFAULT_ROOMS.contains(&room) {
            return Ok(());
        }
        let created = {
            let mut seen = self.seen();
            if let Some(at) = seen.get_mut(room) {
                *at = Instant::now();
                false
            } else {
                self.prune(&mut seen);
                if seen.len() + DEFAULT_ROOMS.len() >= self.0.max {
                    return Err(Error::too_many_requests(format!(
                        "there are {} rooms already: join one of them",
                        self.0.max
                    )));
                }
                seen.insert(room.to_owned(), Instant::now());
                true
            }
        };
        if created {
            self.announce(vec![room.to_owned()]).await;
        }
        Ok(())
    }

    /// The known rooms: the defaults first, then the others by name.
    pub fn list(&self) -> Vec<String> {
        let mut seen = self.seen();
        self.prune(&mut seen);
        let mut others: Vec<String> = seen.keys().cloned().collect();
        drop(seen);
        others.sort();
        DEFAULT_ROOMS
            .iter()
            .map(|r| (*r).to_owned())
            .chain(others)
            .collect()
    }

    /// Records rooms another instance announced (invalid names and rooms past the limit are
    /// ignored).
    fn learn(&self, rooms: Vec<String>) {
        let mut seen = self.seen();
        let now = Instant::now();
        for room in rooms {
            if !is_room_name(&room) || DEFAULT_ROOMS.contains(&room.as_str()) {
                continue;
            }
            if let Some(at) = seen.get_mut(&room) {
                *at = now;
            } else if seen.len() + DEFAULT_ROOMS.len() < self.0.max {
                seen.insert(room, now);
            }
        }
    }

    async fn announce(&self, rooms: Vec<String>) {
        if rooms.is_empty() {
            return;
        }
        let notice = RoomsNotice { rooms };
        if let Err(e) = self.0.pubsub.publish(ROOMS_TOPIC, &notice).await {
            tracing::warn!(error = %e, "cannot announce rooms");
        }
    }

    /// The rooms beyond the defaults that have subscribers on this instance.
    fn active_here(&self) -> Vec<String> {
        let pubsub = &self.0.pubsub;
        self.seen()
            .keys()
            .filter(|room| pubsub.local_subscriber_count(&room_topic(room)) > 0)
            .cloned()
            .collect()
    }

    /// Exchanges rooms with the other instances, for as long as it runs (spawn it, abort it
    /// at shutdown): listens on [`ROOMS_TOPIC`] and announces the rooms active here every
    /// interval. Resubscribes (after a second) when the backend interrupted the
    /// subscription.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.0.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut sub = match self.0.pubsub.subscribe::<RoomsNotice>(ROOMS_TOPIC).await {
                Ok(sub) => sub,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for rooms; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            // Say at once what is here, for the instances that started before this one.
            self.announce(self.active_here()).await;
            loop {
                tokio::select! {
                    next = sub.recv() => match next {
                        Some(Recv::Message(m)) => match m.decode::<RoomsNotice>() {
                            Ok(notice) => self.learn(notice.rooms),
                            Err(e) => tracing::warn!(error = %e, "bad rooms notice"),
                        },
                        Some(_) => {}
                        None => break,
                    },
                    _ = tick.tick() => self.announce(self.active_here()).await,
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_directory_is_bounded_and_forgets_idle_rooms() {
        let config = ChatConfig::default()
            .max_rooms(DEFAULT_ROOMS.len() + 2)
            .room_announce_interval(Duration::from_secs(10));
        let rooms = Rooms::new(PubSub::new(), &config);
        rooms.admit("lobby").await.unwrap();
        rooms.admit("a").await.unwrap();
        rooms.admit("b").await.unwrap();
        rooms.admit("a").await.unwrap();
        let e = rooms.admit("c").await.unwrap_err();
        assert_eq!(e.code().as_i64(), 429);
        assert_eq!(rooms.list(), ["lobby", "rust", "random", "a", "b"]);
        // Announcements from elsewhere are bounded too, and invalid names ignored.
        rooms.learn(vec!["Bad Name".into(), "c".into()]);
        assert_eq!(rooms.list().len(), 5);
        // Idle for three intervals (no subscribers here): forgotten, and a new room fits.
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(rooms.list(), DEFAULT_ROOMS);
        rooms.learn(vec!["c".into()]);
        assert_eq!(rooms.list(), ["lobby", "rust", "random", "c"]);
    }
}
