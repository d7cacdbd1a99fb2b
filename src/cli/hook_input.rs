//! The JSON a CLI writes on a hook's stdin, read without ever hanging: nothing when stdin is a
//! terminal (a person running the command), and at most [`WAIT`] for the rest.

use std::io::{IsTerminal, Read};
use std::time::Duration;

use crate::agentcli::hooks::HookInput;

/// Longest wait for a hook's stdin: a CLI writes it at once and closes it.
const WAIT: Duration = Duration::from_millis(500);

/// The hook's input, or an empty one.
pub fn read() -> HookInput {
    if std::io::stdin().is_terminal() {
        return HookInput::default();
    }
    let (send, receive) = std::sync::mpsc::channel();
    // The reader is left behind if the CLI never closes stdin; the process exits anyway.
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::stdin().take(1 << 20).read_to_string(&mut text);
        let _ = send.send(text);
    });
    receive.recv_timeout(WAIT).map(|text| HookInput::parse(&text)).unwrap_or_default()
}
