//! What gc knows about driving a real agent CLI unattended, as pure decisions over the
//! Provider's data: the session's environment ([`env`]), reading its screen and answering its
//! dialogs ([`screen`]), the state directory gc owns for it ([`home`]), its hooks' answers
//! ([`hooks`]) and its conversation id ([`conversation`]).

pub mod conversation;
pub mod env;
pub mod home;
pub mod home_content;
pub mod hooks;
pub mod mcp;
pub mod screen;
pub mod skill_md;
