//! Reading an agent CLI's screen: is it ready for input, busy, or showing a dialog — and on a
//! dialog, which key moves the cursor to the wanted option. Pure: the screen is text captured
//! from the terminal, the answer is what to press. gc never presses Enter on a dialog unless
//! the cursor is on the option it wants (Claude Code's trust dialog preselects "No, exit").

use crate::api::provider::DialogSpec;

/// Glyphs CLIs put before the selected option of a menu (Claude `❯`, Codex `›`, Gemini `●`).
const CURSORS: &[char] = &['❯', '›', '●', '>', '▶', '►', '→'];

/// Box-drawing characters a CLI frames a dialog with; they are not part of an option's text.
const FRAME: &[char] = &['│', '┃', '║', '╎', '┆', '|'];

/// What gc looks for on a session's screen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScreenRules {
    /// A line starting with one of these means ready for input (Provider
    /// `readyPromptPrefix`).
    pub ready_prefix: Vec<String>,
    /// Text present only while the agent works (Provider `busyMarkers`).
    pub busy_markers: Vec<String>,
    /// Dialogs and the option to choose on each (Provider `dialogs`).
    pub dialogs: Vec<DialogSpec>,
}

/// A key gc presses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// Cursor up.
    Up,
    /// Cursor down.
    Down,
    /// Confirm.
    Enter,
}

impl Key {
    /// The key's name as tmux's `send-keys` takes it.
    pub fn tmux_name(self) -> &'static str {
        match self {
            Key::Up => "Up",
            Key::Down => "Down",
            Key::Enter => "Enter",
        }
    }
}

/// What to do on a declared dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialogStep {
    /// Press this key this many times to move the cursor towards the wanted option (then look
    /// again before confirming).
    Move(Key, usize),
    /// The cursor is on the wanted option: press Enter.
    Confirm,
    /// The screen shows the dialog but gc cannot tell where the cursor or the option is;
    /// nothing is pressed.
    Unreadable(String),
}

/// What a screen shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScreenState {
    /// A declared dialog, and what to do on it.
    Dialog {
        /// The dialog's name.
        name: String,
        /// The option it wants.
        choose: String,
        /// What to press.
        step: DialogStep,
    },
    /// The agent is working (a busy marker shows).
    Busy,
    /// Ready for input.
    Ready,
    /// None of the above: still starting, or stopped at a screen nothing declares.
    Unknown,
}

/// Reads `screen` (the visible terminal, top to bottom) by `rules`: a declared dialog first,
/// then busy markers, then the ready prompt.
pub fn read(screen: &str, rules: &ScreenRules) -> ScreenState {
    let prompt = prompt_line(screen, &rules.ready_prefix);
    let lines: Vec<&str> = screen.lines().collect();
    for dialog in &rules.dialogs {
        let Some(at) = lines.iter().rposition(|line| line.contains(&dialog.matches)) else {
            continue;
        };
        // Where the dialog ends: its wanted option, else the text that identifies it. An input
        // prompt below that means the dialog was answered and the CLI went on beneath it (a
        // prompt line on the option itself is the dialog's own cursor, as Codex draws it).
        let end = lines.iter().rposition(|line| menu_line(line).text.starts_with(&dialog.choose));
        if prompt.is_some_and(|p| p > end.unwrap_or(at).max(at)) {
            continue;
        }
        return ScreenState::Dialog {
            name: dialog.name.clone(),
            choose: dialog.choose.clone(),
            step: choose(screen, &dialog.choose),
        };
    }
    if rules.busy_markers.iter().any(|marker| screen.contains(marker.as_str())) {
        return ScreenState::Busy;
    }
    if shows_prompt(screen, &rules.ready_prefix) {
        ScreenState::Ready
    } else {
        ScreenState::Unknown
    }
}

/// Whether a line of `screen` starts with one of `prefixes`, ignoring leading blanks and
/// frame characters. Only ASCII spaces are blanks: a terminal drops trailing spaces, so a
/// prefix is matched without its own, but a no-break space (Claude Code's `❯` + U+00A0 input
/// line) is kept and must match.
pub fn shows_prompt(screen: &str, prefixes: &[String]) -> bool {
    prompt_line(screen, prefixes).is_some()
}

/// The index of the last line of `screen` that starts with one of `prefixes` (see
/// [`shows_prompt`]).
pub fn prompt_line(screen: &str, prefixes: &[String]) -> Option<usize> {
    let prefixes: Vec<&str> =
        prefixes.iter().map(|p| p.trim_end_matches(' ')).filter(|p| !p.is_empty()).collect();
    // A numbered menu option is never an input line (Codex's cursor `›` is its prompt too).
    let starts_one = |line: &str| {
        let line = line.trim_start_matches(|c: char| c == ' ' || c == '\t' || FRAME.contains(&c));
        prefixes.iter().any(|prefix| line.starts_with(prefix)) && menu_line(line).number.is_none()
    };
    screen.lines().enumerate().filter(|(_, line)| starts_one(line)).last().map(|(i, _)| i)
}

/// One line of a menu as gc reads it.
#[derive(Debug)]
struct MenuLine<'a> {
    /// Whether a cursor glyph starts it.
    cursor: bool,
    /// Its option number (`2.` → 2), when numbered.
    number: Option<u32>,
    /// The column (in characters) where the option's text starts, after glyph and number.
    column: usize,
    /// The option's text.
    text: &'a str,
}

fn menu_line(line: &str) -> MenuLine<'_> {
    let mut rest = line.trim_end_matches(|c: char| c.is_whitespace() || FRAME.contains(&c));
    let mut column = 0;
    let mut skip = |rest: &mut &str, pred: &dyn Fn(char) -> bool| {
        let trimmed = rest.trim_start_matches(pred);
        column += rest[..rest.len() - trimmed.len()].chars().count();
        *rest = trimmed;
    };
    skip(&mut rest, &|c| c.is_whitespace() || FRAME.contains(&c));
    let cursor = rest.starts_with(CURSORS);
    if cursor {
        skip(&mut rest, &|c| CURSORS.contains(&c));
    }
    skip(&mut rest, &|c| c.is_whitespace());
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let number = if digits > 0 && rest[digits..].starts_with('.') {
        let n = rest[..digits].parse().ok();
        skip(&mut rest, &|c| c.is_ascii_digit());
        skip(&mut rest, &|c| c == '.' || c.is_whitespace());
        n
    } else {
        None
    };
    MenuLine { cursor, number, column, text: rest }
}

/// How far the cursor of a menu on `screen` is from the option labelled `label`.
pub fn choose(screen: &str, label: &str) -> DialogStep {
    let lines: Vec<MenuLine<'_>> = screen.lines().map(menu_line).collect();
    let Some(target) = lines.iter().rposition(|l| l.text.starts_with(label)) else {
        return DialogStep::Unreadable(format!("no option `{label}` on screen"));
    };
    // The cursor of the same menu: the nearest cursor line around the option.
    let near = target.saturating_sub(10)..(target + 11).min(lines.len());
    let Some(cursor) = near
        .filter(|i| lines[*i].cursor && !lines[*i].text.is_empty())
        .min_by_key(|i| i.abs_diff(target))
    else {
        return DialogStep::Unreadable(format!("no cursor near option `{label}`"));
    };
    if cursor == target {
        return DialogStep::Confirm;
    }
    let key = if target > cursor { Key::Down } else { Key::Up };
    if let (Some(from), Some(to)) = (lines[cursor].number, lines[target].number) {
        return DialogStep::Move(key, from.abs_diff(to) as usize);
    }
    // Unnumbered: count the options between, i.e. the lines whose text starts where the
    // wanted option's does (descriptions under an option are indented further).
    let column = lines[target].column;
    let (low, high) = if target > cursor { (cursor + 1, target) } else { (target, cursor - 1) };
    let steps =
        (low..=high).filter(|i| !lines[*i].text.is_empty() && lines[*i].column == column).count();
    if steps == 0 {
        return DialogStep::Unreadable(format!("cannot count the options up to `{label}`"));
    }
    DialogStep::Move(key, steps)
}

/// The last `lines` non-blank lines of `screen`, for status and events.
pub fn excerpt(screen: &str, lines: usize) -> String {
    let kept: Vec<&str> =
        screen.lines().map(str::trim_end).filter(|line| !line.trim().is_empty()).collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(matches: &str, choose: &str) -> DialogSpec {
        DialogSpec { name: "d".into(), matches: matches.into(), choose: choose.into() }
    }

    #[test]
    fn an_unnumbered_menu_with_the_wrong_option_preselected_moves_down_first() {
        let screen = "\
 Quick safety check: Is this a project you created or one you trust?

 ❯ No, exit
   Yes, I trust this folder

 Enter to confirm · Esc to cancel";
        assert_eq!(choose(screen, "Yes, I trust this folder"), DialogStep::Move(Key::Down, 1));
        let moved =
            screen.replace("❯ No, exit", "  No, exit").replace("  Yes, I trust", "❯ Yes, I trust");
        assert_eq!(choose(&moved, "Yes, I trust this folder"), DialogStep::Confirm);
    }

    #[test]
    fn a_numbered_menu_moves_by_the_numbers_and_descriptions_do_not_count() {
        let screen = "\
  Hooks need review
  › 1. Review hooks
       Look at each hook before it runs.
    2. Trust all and continue
    3. Continue without trusting (hooks won't run)";
        assert_eq!(choose(screen, "Trust all and continue"), DialogStep::Move(Key::Down, 1));
        assert_eq!(choose(screen, "Continue without"), DialogStep::Move(Key::Down, 2));
        assert_eq!(choose(screen, "Review hooks"), DialogStep::Confirm);
    }

    #[test]
    fn an_option_above_the_cursor_moves_up() {
        let screen = "\
 Do you want to use this API key?
   Yes
 ❯ No (recommended)";
        assert_eq!(choose(screen, "Yes"), DialogStep::Move(Key::Up, 1));
    }

    #[test]
    fn framed_menus_are_read_inside_their_frame() {
        let screen = "\
╭──────────────────────────────────────╮
│ Do you trust the files in this folder? │
│ ● 1. Trust folder (work)             │
│   2. Trust parent folder (tmp)       │
│   3. Don't trust                     │
╰──────────────────────────────────────╯";
        assert_eq!(choose(screen, "Trust folder"), DialogStep::Confirm);
        assert_eq!(choose(screen, "Don't trust"), DialogStep::Move(Key::Down, 2));
    }

    #[test]
    fn without_a_cursor_or_the_option_nothing_is_pressed() {
        assert!(matches!(choose("Trust?\n  Yes\n  No", "Yes"), DialogStep::Unreadable(_)));
        assert!(matches!(choose("Trust?\n❯ Yes\n  No", "Maybe"), DialogStep::Unreadable(_)));
    }

    #[test]
    fn the_screen_is_read_dialog_first_then_busy_then_ready() {
        let rules = ScreenRules {
            ready_prefix: vec!["❯\u{a0}".into()],
            busy_markers: vec!["esc to interrupt".into()],
            dialogs: vec![dialog("Quick safety check", "Yes, I trust this folder")],
        };
        let trust = "Quick safety check\n❯ No, exit\n  Yes, I trust this folder";
        assert!(matches!(read(trust, &rules), ScreenState::Dialog { .. }));
        assert_eq!(read("──────\n❯\u{a0}\n──────\n ? for shortcuts", &rules), ScreenState::Ready);
        assert_eq!(
            read("* Moseying…\n❯\u{a0}\n  esc to interrupt", &rules),
            ScreenState::Busy,
            "the input line stays visible while Claude works"
        );
        assert_eq!(
            read("❯ earlier prompt, submitted\n", &rules),
            ScreenState::Unknown,
            "a submitted prompt has an ordinary space: not the input line"
        );
        let gemini = ScreenRules {
            ready_prefix: vec!["> ".into(), "* ".into()],
            dialogs: vec![dialog("Do you trust the files", "Trust folder")],
            ..ScreenRules::default()
        };
        assert_eq!(read(" >   Type your message or @path/to/file", &gemini), ScreenState::Ready);
        assert_eq!(read(" *   Type your message or @path/to/file", &gemini), ScreenState::Ready);
        let restarted = "│ Do you trust the files in this folder? │\n│ ● 1. Trust folder (w) │\n\
                         Gemini CLI is restarting to apply the trust changes...\n\
                         *   Type your message or @path/to/file";
        assert_eq!(read(restarted, &gemini), ScreenState::Ready, "an answered dialog above");
    }

    #[test]
    fn excerpts_keep_the_last_non_blank_lines() {
        assert_eq!(excerpt("a\n\nb  \n   \nc\n\n", 2), "b\nc");
        assert_eq!(excerpt("", 3), "");
    }
}
