//! `gc mail`: messages between agents and people, stored as beads in the city's store.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use super::work_context::{WorkContext, actor};
use crate::beads::Bead;
use crate::work::{mail, stores};

/// Send and read mail: messages are beads of type `message` in the city's own store, so
/// agents and people can write to each other and the log records it.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: MailCommand,
    /// Who you are (default: BEADS_ACTOR, BD_ACTOR, USER).
    #[arg(long, global = true)]
    actor: Option<String>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum MailCommand {
    /// Send a message.
    Send {
        /// The recipient: an agent, a pool member (`worker-2`) or a person.
        to: String,
        /// The subject.
        #[arg(short, long)]
        subject: String,
        /// The body (default: read from stdin when it is not a terminal).
        #[arg(short = 'm', long)]
        message: Option<String>,
    },
    /// List your unread messages (all not archived with --all).
    Inbox {
        /// Whose inbox (default: you).
        recipient: Option<String>,
        /// Read messages too.
        #[arg(long)]
        all: bool,
        /// Output format (`--json` prints the same as `-o json`, on one line).
        #[arg(short, long, value_enum, default_value_t = super::present::ListOutput::Table)]
        output: super::present::ListOutput,
    },
    /// Show the unread mail of an agent (default: you, inside a session your agent and your
    /// member name); with --inject, as the agent CLI's prompt hook: put it into the agent's
    /// next turn and mark it read.
    Check {
        /// Whose mail (default: BEADS_ACTOR and GC_AGENT inside a session, else you).
        recipient: Option<String>,
        /// Answer as the CLI's prompt hook (always exits 0; marks what it shows read).
        #[arg(long)]
        inject: bool,
        /// The answer's form for `--inject`: `claude` (Claude Code, Codex) or `gemini`.
        #[arg(long, value_enum, default_value = "claude", requires = "inject")]
        format: super::hook::Format,
    },
    /// Show a message and mark it read.
    Read {
        /// The message id.
        id: String,
    },
    /// Answer a message (to its sender, in its thread).
    Reply {
        /// The message id.
        id: String,
        /// The body.
        #[arg(short = 'm', long)]
        message: Option<String>,
    },
    /// Archive messages.
    Archive {
        /// Message ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// Runs `gc mail`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ctx = WorkContext::load(city)?;
    let (_, store) = stores::open(&ctx.model, None)?;
    let me = actor(args.actor.as_deref());
    let result = match args.command {
        MailCommand::Check { recipient, inject, format } => {
            return check(&*store, recipient.as_deref(), &me, inject, format, args.json);
        }
        MailCommand::Send { to, subject, message } => {
            let body = body(message)?;
            mail::send(&*store, &me, &to, &subject, &body)
                .map(|m| report(&m, args.json, || println!("Sent {} to {to}: {}", m.id, m.title)))
        }
        MailCommand::Inbox { recipient, all, output } => {
            let whose = recipient.unwrap_or_else(|| me.clone());
            mail::inbox(&*store, &whose, all).map(|messages| {
                if args.json {
                    println!("{}", serde_json::to_string(&messages).unwrap_or_default());
                } else if let Some(document) = output.document(&messages) {
                    print!("{document}");
                } else if messages.is_empty() {
                    println!("No {}messages for {whose}.", if all { "" } else { "unread " });
                } else {
                    let rows: Vec<Vec<String>> = messages
                        .iter()
                        .map(|m| {
                            vec![
                                m.id.clone(),
                                m.meta_str("from").unwrap_or(&m.created_by).to_owned(),
                                if mail::is_read(m) { "read" } else { "new" }.to_owned(),
                                m.title.clone(),
                            ]
                        })
                        .collect();
                    print!("{}", super::present::table(&["ID", "FROM", "STATE", "SUBJECT"], &rows));
                }
            })
        }
        MailCommand::Read { id } => mail::read(&*store, &id, &me).map(|m| {
            report(&m, args.json, || {
                println!("From:    {}", m.meta_str("from").unwrap_or(&m.created_by));
                println!("To:      {}", m.assignee);
                println!("Subject: {}", m.title);
                println!("Date:    {}", m.created_at);
                println!("Thread:  {}", mail::thread_of(&m));
                println!("\n{}", m.description);
            })
        }),
        MailCommand::Reply { id, message } => {
            let body = body(message)?;
            mail::reply(&*store, &id, &me, &body).map(|m| {
                report(&m, args.json, || {
                    println!("Replied {} to {}: {}", m.id, m.assignee, m.title)
                })
            })
        }
        MailCommand::Archive { ids } => {
            ids.iter().map(|id| mail::archive(&*store, id, &me)).collect::<Result<Vec<_>, _>>().map(
                |done| {
                    for m in &done {
                        report(m, args.json, || println!("Archived {}", m.id));
                    }
                },
            )
        }
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("gc: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn report(message: &Bead, json: bool, human: impl FnOnce()) {
    if json {
        println!("{}", serde_json::to_string(message).unwrap_or_default());
    } else {
        human();
    }
}

/// `-m TEXT`, else stdin when it is piped.
fn body(message: Option<String>) -> Result<String, Box<dyn std::error::Error>> {
    use std::io::IsTerminal;
    if let Some(text) = message {
        return Ok(text);
    }
    if std::io::stdin().is_terminal() {
        return Err("give the body with -m TEXT (or pipe it on stdin)".into());
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    Ok(text.trim_end().to_owned())
}

/// Whose mail `gc mail check` is about: `recipient`, else inside a session the member and its
/// agent, else `me`.
fn recipients(recipient: Option<&str>, me: &str) -> Vec<String> {
    let mut whose: Vec<String> = match recipient {
        Some(r) => vec![r.to_owned()],
        None => [std::env::var("BEADS_ACTOR").ok(), std::env::var("GC_AGENT").ok()]
            .into_iter()
            .flatten()
            .filter(|w| !w.is_empty())
            .collect(),
    };
    if whose.is_empty() {
        whose.push(me.to_owned());
    }
    whose.dedup();
    whose
}

/// `gc mail check`: the unread mail of `recipient` (inside a session: the member and its
/// agent); with `inject`, in the form a CLI's prompt hook passes to the model, marked read.
fn check(
    store: &dyn crate::beads::BeadStore,
    recipient: Option<&str>,
    me: &str,
    inject: bool,
    format: super::hook::Format,
    json: bool,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let whose = recipients(recipient, me);
    if inject {
        let text = inject_unread(store, &whose, me).unwrap_or_default();
        let format = crate::api::provider::HookFormat::from(format);
        let answer = crate::agentcli::hooks::prompt_answer(format, &text);
        if !answer.is_empty() {
            println!("{answer}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut unread = Vec::new();
    for who in &whose {
        unread.extend(mail::inbox(store, who, false)?);
    }
    unread.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    if json {
        println!("{}", serde_json::to_string(&unread)?);
    } else if unread.is_empty() {
        println!("no unread mail for {}", whose.join(", "));
    } else {
        for m in &unread {
            let from = m.meta_str("from").unwrap_or(&m.created_by);
            println!("{}  from {from}: {}", m.id, m.title);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The unread mail of `whose` as the text a prompt hook hands the model, marked read (by the
/// first of `whose`, else `me`); `None` when there is none. Problems go to stderr: a hook
/// never fails the agent's turn.
fn inject_unread(
    store: &dyn crate::beads::BeadStore,
    whose: &[String],
    me: &str,
) -> Option<String> {
    let mut unread = Vec::new();
    for who in whose {
        match mail::inbox(store, who, false) {
            // A handoff note to oneself is for the next session's start, not this turn.
            Ok(messages) => unread.extend(messages.into_iter().filter(|m| {
                !(m.title == super::handoff::HANDOFF_SUBJECT
                    && m.meta_str("from").unwrap_or(&m.created_by) == who)
            })),
            Err(e) => eprintln!("gc mail check: {e}"),
        }
    }
    if unread.is_empty() {
        return None;
    }
    unread.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    let mut text = String::from("You have mail:");
    for m in &unread {
        let from = m.meta_str("from").unwrap_or(&m.created_by);
        text.push_str(&format!("\n\n{} from {from}: {}\n{}", m.id, m.title, m.description));
        let reader = whose.first().map_or(me, String::as_str);
        if let Err(e) = mail::read(store, &m.id, reader) {
            eprintln!("gc mail check: cannot mark {} read: {e}", m.id);
        }
    }
    text.push_str("\n\n(Answer with `gc mail reply ID -m TEXT`.)");
    Some(text)
}

/// The unread mail of the agent this prompt hook runs for, as text for its next turn, marked
/// read; `None` when there is none or the city cannot be read.
pub(super) fn for_prompt_hook(city: Option<PathBuf>) -> Option<String> {
    let ctx = WorkContext::load(city).map_err(|e| eprintln!("gc mail check: {e}")).ok()?;
    let (_, store) =
        stores::open(&ctx.model, None).map_err(|e| eprintln!("gc mail check: {e}")).ok()?;
    let me = actor(None);
    inject_unread(&*store, &recipients(None, &me), &me)
}
