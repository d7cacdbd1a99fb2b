//! `gc sling`: route work to an agent.

use std::path::PathBuf;
use std::process::ExitCode;

use super::work_context::{WorkContext, actor};
use crate::controllers::launch::session_name;
use crate::controllers::reconcile::runtime_for;
use crate::work::sling::sling;
use crate::work::stores;

/// Route work to an agent: a bead id, or text that becomes a new bead, or (with --formula) a
/// formula cooked into a molecule whose steps the agent's `gc hook` hands out in dependency
/// order. The beads get metadata `gc.routed_to=AGENT` in the agent's store (its rig's, or the
/// city's), the controller is poked so a pool can grow for it, and with --nudge the agent's
/// sessions are told.
///
/// Examples:
///   gc sling worker demo-a1b2
///   gc sling worker "Fix the flaky test in parser.rs"
///   gc sling worker --formula mol-do-work --var issue=demo-a1b2
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent that should do the work.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completion::agents))]
    agent: String,
    /// A bead id, or the text of a new bead (first line = title, the rest = description).
    #[arg(required_unless_present = "formula", conflicts_with = "formula")]
    work: Option<String>,
    /// Cook this formula and route its molecule to the agent.
    #[arg(long, value_name = "NAME")]
    formula: Option<String>,
    /// A var value for --formula, NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Also type the agent's `nudge` text into its running sessions.
    #[arg(long)]
    nudge: bool,
    /// Print the bead as JSON.
    #[arg(long)]
    json: bool,
    /// Who is slinging (default: BEADS_ACTOR, BD_ACTOR, USER).
    #[arg(long)]
    actor: Option<String>,
}

/// Runs `gc sling`.
pub fn run(args: Args, city: Option<PathBuf>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let ctx = WorkContext::load(city)?;
    if args.formula.is_none() && !args.vars.is_empty() {
        return Err("--var only applies with --formula NAME".into());
    }
    let agent = ctx.agent(Some(&args.agent))?;
    if let Some(formula) = &args.formula {
        let request = crate::formula::CookRequest {
            vars: crate::formula::vars::parse_assignments(&args.vars)?,
            route_to: Some(agent.clone()),
            actor: actor(args.actor.as_deref()),
            ..Default::default()
        };
        let code = super::formula::print_cooked(&ctx, formula, &request, args.json)?;
        if args.nudge && code == ExitCode::SUCCESS {
            nudge(&ctx, &agent, None)?;
        }
        return Ok(code);
    }
    let work = args.work.as_deref().unwrap_or_default();
    let (_, store) = stores::open_for_agent(&ctx.model, &agent)?;
    let slung = match sling(&*store, &agent, work, &actor(args.actor.as_deref())) {
        Ok(slung) => slung,
        Err(e) => {
            eprintln!("gc: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let poked = crate::notify::poke(&ctx.city_dir);
    if args.json {
        println!("{}", serde_json::to_string(&slung.bead)?);
    } else {
        let verb = if slung.created { "Created and slung" } else { "Slung" };
        println!("{verb} {} to {agent}: {}", slung.bead.id, slung.bead.title);
        if !poked {
            println!("(no controller is running: `gc start` runs the agents)");
        }
    }
    if args.nudge {
        nudge(&ctx, &agent, Some(&slung.bead.id))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How long `gc sling --nudge` waits for a busy session to be idle before it queues the nudge.
const NUDGE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a queued sling nudge may wait before it is dead-lettered.
const NUDGE_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Types the agent's nudge into each of its live sessions, once each is idle (queued for a
/// session that stays busy). The sessions count as told about `bead`: the controller does not
/// announce it to them again.
fn nudge(
    ctx: &WorkContext,
    agent: &str,
    bead: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let spec = &ctx.model.agents[agent].spec;
    let text = spec.nudge.clone().unwrap_or_else(|| "You have new work: run `gc hook`.".into());
    let runtime = runtime_for(&ctx.model)?;
    let city = ctx.model.city_name();
    let single = session_name(&city, agent, 0);
    let sessions: Vec<String> = runtime
        .list(&single)?
        .into_iter()
        .filter(|s| s.alive && crate::controllers::launch::is_session_of(&city, agent, &s.name))
        .map(|s| s.name)
        .collect();
    // Reports go to stderr: stdout may be the bead's JSON.
    if sessions.is_empty() {
        eprintln!("{agent} has no running session to nudge; it sees the work when it starts");
    }
    let how = crate::controllers::nudge::Sending {
        delivery: crate::controllers::nudge::Delivery::WaitIdle,
        wait: NUDGE_WAIT,
        ttl: NUDGE_TTL,
        from: super::work_context::actor(None),
    };
    let mut failed = Vec::new();
    let queues = crate::controllers::nudge_queue::Queues::new(&ctx.city_dir, &how.from);
    for session in sessions {
        if let Some(bead) = bead
            && let Err(e) = queues.note_announced(&session, bead)
        {
            eprintln!("gc sling: {e}");
        }
        let sent = crate::controllers::nudge::send_recorded(
            &ctx.city_dir,
            &ctx.model,
            runtime.as_ref(),
            &session,
            &text,
            &how,
        );
        match sent {
            Ok(crate::controllers::nudge::Sent::Delivered) => eprintln!("nudged {session}"),
            Ok(crate::controllers::nudge::Sent::Queued(n)) => {
                eprintln!("{session} is busy: queued nudge {} for when it is idle", n.id);
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(failed.join("; ").into()) }
}
