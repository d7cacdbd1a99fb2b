//! `mail`: messages between agents (and people) as beads of type `message`.
//!
//! A message's title is its subject, its description the body, its assignee the recipient,
//! metadata `from` the sender. Labels: `gc:message`, `thread:<first message id>` (on replies; a first message's
//! thread is its own id),
//! `reply-to:<id>` on replies, `read` once read. Archiving closes it.

use serde_json::{Map, Value};

use crate::beads::model::dep_type;
use crate::beads::{Bead, BeadError, BeadStore, DepDirection, ListQuery, NewBead, NewDep, Result};

/// Label every message carries.
pub const MESSAGE_LABEL: &str = "gc:message";
/// Label of a read message.
pub const READ_LABEL: &str = "read";
/// Bead type of messages.
pub const MESSAGE_TYPE: &str = "message";

/// Sends a message from `from` to `to`.
pub fn send(
    store: &dyn BeadStore,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<Bead> {
    compose(store, from, to, subject, body, None)
}

fn compose(
    store: &dyn BeadStore,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    reply_to: Option<&Bead>,
) -> Result<Bead> {
    if to.trim().is_empty() {
        return Err(BeadError::Invalid("a message needs a recipient".into()));
    }
    let mut metadata = Map::new();
    metadata.insert("from".into(), Value::String(from.to_owned()));
    let mut labels = vec![MESSAGE_LABEL.to_owned()];
    let mut deps = Vec::new();
    if let Some(original) = reply_to {
        labels.push(format!("thread:{}", thread_of(original)));
        labels.push(format!("reply-to:{}", original.id));
        deps.push(NewDep {
            other: original.id.clone(),
            dep_type: dep_type::REPLIES_TO.into(),
            direction: DepDirection::NewDependsOnOther,
            metadata: None,
        });
    }
    let new = NewBead {
        title: subject.to_owned(),
        description: body.to_owned(),
        issue_type: Some(MESSAGE_TYPE.into()),
        assignee: Some(to.to_owned()),
        labels,
        deps,
        metadata,
        ..NewBead::default()
    };
    // A first message carries no thread label: its own id is its thread (see `thread_of`).
    store.create(new, from)
}

/// The thread a message belongs to.
pub fn thread_of(message: &Bead) -> String {
    message
        .labels
        .iter()
        .find_map(|l| l.strip_prefix("thread:"))
        .map_or_else(|| message.id.clone(), str::to_owned)
}

/// Messages to `recipient` that are not archived, newest first; unread only unless `all`.
pub fn inbox(store: &dyn BeadStore, recipient: &str, all: bool) -> Result<Vec<Bead>> {
    let query = ListQuery {
        assignee: Some(recipient.to_owned()),
        issue_type: Some(MESSAGE_TYPE.into()),
        labels: vec![MESSAGE_LABEL.into()],
        ..ListQuery::default()
    };
    let mut messages = store.list(&query)?;
    if !all {
        messages.retain(|m| !is_read(m));
    }
    messages.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
    Ok(messages)
}

/// Whether a message was read.
pub fn is_read(message: &Bead) -> bool {
    message.labels.iter().any(|l| l == READ_LABEL)
}

/// A message (refusing beads that are not messages), marked read.
pub fn read(store: &dyn BeadStore, id: &str, reader: &str) -> Result<Bead> {
    let message = message(store, id)?;
    if is_read(&message) {
        return Ok(message);
    }
    store.add_labels(id, &[READ_LABEL.to_owned()], reader)
}

/// Replies to message `id` from `from`: to its sender, same thread, subject `Re: …`.
pub fn reply(store: &dyn BeadStore, id: &str, from: &str, body: &str) -> Result<Bead> {
    let original = message(store, id)?;
    let to = original.meta_str("from").unwrap_or(&original.created_by).to_owned();
    let subject = if original.title.starts_with("Re: ") {
        original.title.clone()
    } else {
        format!("Re: {}", original.title)
    };
    compose(store, from, &to, &subject, body, Some(&original))
}

/// Archives (closes) a message.
pub fn archive(store: &dyn BeadStore, id: &str, actor: &str) -> Result<Bead> {
    message(store, id)?;
    store.close(id, Some("archived"), actor)
}

fn message(store: &dyn BeadStore, id: &str) -> Result<Bead> {
    let bead = store.get(id)?;
    if bead.issue_type != MESSAGE_TYPE {
        return Err(BeadError::Invalid(format!("{id} is a {}, not a message", bead.issue_type)));
    }
    Ok(bead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::ReadyQuery;
    use crate::beads::embedded::EmbeddedStore;

    #[test]
    fn a_conversation_threads_replies_and_never_shows_up_as_work() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("beads.db"), "gc").unwrap();
        let first = send(&store, "mayor", "worker", "Plan", "Do the parser first").unwrap();
        assert_eq!(thread_of(&first), first.id);
        assert_eq!(inbox(&store, "worker", false).unwrap().len(), 1);
        assert!(inbox(&store, "mayor", false).unwrap().is_empty());
        assert!(store.ready(&ReadyQuery::default()).unwrap().is_empty(), "mail is not work");

        let opened = read(&store, &first.id, "worker").unwrap();
        assert!(is_read(&opened));
        assert!(inbox(&store, "worker", false).unwrap().is_empty(), "read mail leaves the inbox");
        assert_eq!(inbox(&store, "worker", true).unwrap().len(), 1);

        let answer = reply(&store, &first.id, "worker", "On it").unwrap();
        assert_eq!(answer.title, "Re: Plan");
        assert_eq!(answer.assignee, "mayor");
        assert_eq!(thread_of(&answer), first.id);
        assert!(answer.labels.contains(&format!("reply-to:{}", first.id)));
        let again = reply(&store, &answer.id, "mayor", "Thanks").unwrap();
        assert_eq!((again.title.as_str(), again.assignee.as_str()), ("Re: Plan", "worker"));
        assert_eq!(thread_of(&again), first.id);

        archive(&store, &again.id, "worker").unwrap();
        assert!(inbox(&store, "worker", true).unwrap().iter().all(|m| m.id != again.id));
        let task = store
            .create(crate::beads::NewBead { title: "t".into(), ..Default::default() }, "x")
            .unwrap();
        assert!(read(&store, &task.id, "x").unwrap_err().to_string().contains("not a message"));
    }
}
