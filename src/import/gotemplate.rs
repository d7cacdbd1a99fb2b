//! Gas City prompt templates (Go `text/template`) rewritten in gc's prompt syntax (Jinja).
//!
//! Gas City fills `{{ .RigName }}`-style placeholders from its prompt context and pulls shared
//! text in with `{{ template "name" . }}`; gc renders prompts with minijinja against `city`,
//! `agent`, `rig` and `session` (see [`crate::prompt`]). [`translate`] maps the placeholders
//! Gas City documents onto those variables, inlines fragments, and rewrites `if`/`else` and
//! comments. Whatever has no equivalent (`range`, `with`, pipelines, unknown fields, malformed
//! actions) is kept verbatim inside `{% raw %}` and reported, so the result always compiles and
//! nothing is dropped silently.
//!
//! Go's trim markers (`{{-`, `-}}`) are applied while translating and the output carries none,
//! so the rendered prompt is what Gas City would print (except that Jinja, unlike Go, drops one
//! trailing newline at the very end).

use std::collections::BTreeMap;
use std::ops::Range;

/// Where the translated template will be used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Whether the agent belongs to a rig. Gas City renders rig placeholders as empty for
    /// city-wide agents, whose gc context has no `rig` at all, so they become empty text.
    pub rig_scoped: bool,
    /// `packs/<name>`: the declaring pack's directory relative to the city directory, which is
    /// what `.ConfigDir` points at.
    pub config_dir: String,
}

/// One `{{ define "name" }}` body and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The name `{{ template "name" . }}` refers to.
    pub name: String,
    /// The body, with the define's own trim markers already applied.
    pub body: String,
    /// The file that defines it.
    pub file: String,
    /// 1-based line of `file` where `body` starts, so findings inside it point at the source.
    pub line: usize,
}

/// A construct that could not be translated exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Untranslated {
    /// The file the construct is in (a fragment's own file for inlined text).
    pub file: String,
    /// 1-based line of the construct's start.
    pub line: usize,
    /// The Go action, e.g. `{{ range .Items }}` (shortened when very long).
    pub construct: String,
    /// Why it was not translated, or how it was approximated.
    pub reason: String,
}

/// The translation of one template.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Translated {
    /// Jinja text: compiles, and renders with strict undefined checks against a full context
    /// (one with a `rig` when the scope is rig-scoped).
    pub text: String,
    /// Constructs kept verbatim (inside `{% raw %}`) because they have no equivalent.
    pub untranslated: Vec<Untranslated>,
    /// Constructs replaced by an approximation, such as `.DefaultBranch` written as `main`.
    pub notes: Vec<Untranslated>,
}

/// How deep `if`s may nest (across inlined fragments) before a block is kept raw: minijinja's
/// parser refuses templates nested much deeper than this.
const MAX_NESTING: usize = 24;
/// How deep `{{ template }}` may inline fragments that inline fragments.
const MAX_INLINE_DEPTH: usize = 16;
/// How many fragments one translation may inline, so that fragments referring to each other
/// several times cannot blow the output up exponentially.
const MAX_INLINES: usize = 512;
/// How deep parentheses may nest in a condition, for the same reason as [`MAX_NESTING`].
const MAX_PARENS: usize = 8;
/// How many arguments `eq`, `and` and `or` may take.
const MAX_ARGS: usize = 16;

/// Parses every top-level `{{ define "name" }}…{{ end }}` of a fragment file.
///
/// Text and actions outside defines are ignored, as Gas City ignores them. Later definitions
/// of a name are returned after earlier ones, so collecting them into a map keeps the last,
/// which is what Go does.
pub fn parse_fragments(file: &str, text: &str) -> (Vec<Fragment>, Vec<Untranslated>) {
    let src = Src::new(file, text, 1);
    let mut fragments = Vec::new();
    let mut problems = Vec::new();
    let mut problem = |at: &Range<usize>, reason: &str| {
        push_unique(&mut problems, src.finding(at.clone(), reason.to_string()));
    };
    let mut i = 0;
    while i < src.items.len() {
        let item = &src.items[i];
        match (item, src.words[i]) {
            (Item::Broken { span, reason }, _) => problem(span, reason),
            (Item::Action { span, .. }, Word::Else | Word::End) => {
                problem(span, "no block to end here")
            }
            (Item::Action { span, .. }, word) if word.opens() => match src.end_of[i] {
                None => problem(span, "no matching {{ end }}"),
                Some(end) => {
                    if word == Word::Define {
                        match src.define_name(i) {
                            Some(name) => fragments.push(src.fragment(name, i, end)),
                            None => problem(span, "a define needs exactly one quoted name"),
                        }
                    }
                    i = end;
                }
            },
            _ => {}
        }
        i += 1;
    }
    (fragments, problems)
}

/// Translates `text`, the contents of `file`, into gc's prompt syntax.
///
/// `{{ template "x" . }}` inlines fragment `x`, looked up first among the defines of `text`
/// itself and then in `fragments`; the inlined body is translated in turn.
pub fn translate(
    file: &str,
    text: &str,
    scope: &Scope,
    fragments: &BTreeMap<String, Fragment>,
) -> Translated {
    let local = parse_fragments(file, text).0.into_iter().map(|f| (f.name.clone(), f)).collect();
    let mut translator = Translator {
        scope,
        fragments,
        local,
        untranslated: Vec::new(),
        notes: Vec::new(),
        inlining: Vec::new(),
        inlines: 0,
    };
    let src = Src::new(file, text, 1);
    let mut out = Out::default();
    translator.block(&src, 0..src.items.len(), 0, &mut out);
    Translated {
        text: out.finish(),
        untranslated: translator.untranslated,
        notes: translator.notes,
    }
}

// ---------------------------------------------------------------------------------------------
// Lexing: text and actions, as Go's lexer splits them.

/// A piece of a Go template. Text ranges already exclude whitespace removed by trim markers.
#[derive(Debug)]
enum Item {
    Text(Range<usize>),
    Comment {
        span: Range<usize>,
        body: Range<usize>,
    },
    Action {
        span: Range<usize>,
        body: Range<usize>,
        trim_left: bool,
        trim_right: bool,
    },
    /// Something Go would refuse to parse; `span` is kept raw.
    Broken {
        span: Range<usize>,
        reason: &'static str,
    },
}

impl Item {
    fn span(&self) -> Range<usize> {
        match self {
            Item::Text(span)
            | Item::Comment { span, .. }
            | Item::Action { span, .. }
            | Item::Broken { span, .. } => span.clone(),
        }
    }
}

/// Go's whitespace for trim markers and inside actions.
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn leading_space(s: &str) -> usize {
    s.len() - s.trim_start_matches(is_go_space).len()
}

fn trailing_space(s: &str) -> usize {
    s.len() - s.trim_end_matches(is_go_space).len()
}

fn find(text: &str, from: usize, pattern: &str) -> Option<usize> {
    text[from..].find(pattern).map(|at| at + from)
}

/// The end of a right delimiter at `at` (`}}`, or a space and `-}}`) and whether it trims.
fn right_delim(text: &str, at: usize) -> Option<(usize, bool)> {
    let rest = &text.as_bytes()[at..];
    if rest.starts_with(b"}}") {
        Some((at + 2, false))
    } else if rest.len() >= 4 && is_go_space(rest[0] as char) && rest[1..].starts_with(b"-}}") {
        Some((at + 4, true))
    } else {
        None
    }
}

fn lex(text: &str) -> Vec<Item> {
    let bytes = text.as_bytes();
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    loop {
        let open = find(text, pos, "{{");
        let trim_left = open.is_some_and(|o| {
            bytes.get(o + 2) == Some(&b'-')
                && bytes.get(o + 3).is_some_and(|&b| is_go_space(b as char))
        });
        let mut start = pos;
        let mut end = open.unwrap_or(text.len());
        if trim_next {
            start += leading_space(&text[start..end]);
        }
        if trim_left {
            end -= trailing_space(&text[start..end]);
        }
        if start < end {
            items.push(Item::Text(start..end));
        }
        let Some(open) = open else { break };
        let (item, trim_right) = lex_action(text, open, open + if trim_left { 4 } else { 2 });
        pos = item.span().end;
        trim_next = trim_right;
        items.push(item);
    }
    items
}

/// Lexes the action opened at `open` whose contents start at `inner`.
fn lex_action(text: &str, open: usize, inner: usize) -> (Item, bool) {
    let bytes = text.as_bytes();
    // Go gives up on the whole template here; the next `}}` is the likeliest end intended.
    let broken = |reason| {
        let end = find(text, inner, "}}").map_or(text.len(), |at| at + 2);
        (Item::Broken { span: open..end, reason }, false)
    };
    if text[inner..].starts_with("/*") {
        let Some(close) = find(text, inner + 2, "*/") else {
            return broken("unclosed comment");
        };
        return match right_delim(text, close + 2) {
            Some((end, trim)) => (Item::Comment { span: open..end, body: inner + 2..close }, trim),
            None => broken("comment ends before the closing `}}`"),
        };
    }
    let mut at = inner;
    while at < bytes.len() {
        if let Some((end, trim)) = right_delim(text, at) {
            let item = Item::Action {
                span: open..end,
                body: inner..at,
                trim_left: inner == open + 4,
                trim_right: trim,
            };
            return (item, trim);
        }
        match bytes[at] {
            quote @ (b'"' | b'\'') => {
                at += 1;
                loop {
                    match bytes.get(at) {
                        None | Some(b'\n') => return broken("unterminated quoted string"),
                        Some(b'\\') if matches!(bytes.get(at + 1), None | Some(b'\n')) => {
                            return broken("unterminated quoted string");
                        }
                        Some(b'\\') => at += 2,
                        Some(&b) if b == quote => break,
                        Some(_) => at += 1,
                    }
                }
                at += 1;
            }
            b'`' => match find(text, at + 1, "`") {
                Some(close) => at = close + 1,
                None => return broken("unterminated raw string"),
            },
            _ => at += 1,
        }
    }
    (Item::Broken { span: open..text.len(), reason: "unclosed action" }, false)
}

/// What an action is, by its first word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Word {
    NotAction,
    If,
    Range,
    With,
    Define,
    Block,
    Else,
    End,
    Template,
    Other,
}

impl Word {
    fn opens(self) -> bool {
        matches!(self, Word::If | Word::Range | Word::With | Word::Define | Word::Block)
    }

    fn of(body: &str) -> Word {
        let (word, rest) = split_word(body);
        match word {
            "if" => Word::If,
            "range" => Word::Range,
            "with" => Word::With,
            "define" => Word::Define,
            "block" => Word::Block,
            "else" => Word::Else,
            "end" if rest.trim_matches(is_go_space).is_empty() => Word::End,
            "template" => Word::Template,
            _ => Word::Other,
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The leading identifier of an action body and what follows it.
fn split_word(body: &str) -> (&str, &str) {
    let body = body.trim_start_matches(is_go_space);
    let len = body.find(|c| !is_ident_char(c)).unwrap_or(body.len());
    body.split_at(len)
}

/// A lexed template with its blocks matched up.
struct Src<'t> {
    file: &'t str,
    text: &'t str,
    first_line: usize,
    newlines: Vec<usize>,
    items: Vec<Item>,
    words: Vec<Word>,
    /// For each block opener, the index of its `{{ end }}`.
    end_of: Vec<Option<usize>>,
    /// For each block opener, the indices of its `{{ else }}`s.
    elses: Vec<Vec<usize>>,
}

impl<'t> Src<'t> {
    fn new(file: &'t str, text: &'t str, first_line: usize) -> Src<'t> {
        let items = lex(text);
        let words: Vec<Word> = items
            .iter()
            .map(|item| match item {
                Item::Action { body, .. } => Word::of(&text[body.clone()]),
                _ => Word::NotAction,
            })
            .collect();
        let mut end_of = vec![None; items.len()];
        let mut elses = vec![Vec::new(); items.len()];
        // Iterative, so that absurd nesting cannot exhaust the stack.
        let mut open = Vec::new();
        for (i, word) in words.iter().enumerate() {
            match word {
                word if word.opens() => open.push(i),
                Word::Else => {
                    if let Some(&opener) = open.last() {
                        elses[opener].push(i);
                    }
                }
                Word::End => {
                    if let Some(opener) = open.pop() {
                        end_of[opener] = Some(i);
                    }
                }
                _ => {}
            }
        }
        let newlines = text.match_indices('\n').map(|(at, _)| at).collect();
        Src { file, text, first_line, newlines, items, words, end_of, elses }
    }

    fn line(&self, offset: usize) -> usize {
        self.first_line + self.newlines.partition_point(|&nl| nl < offset)
    }

    fn body(&self, i: usize) -> &'t str {
        match &self.items[i] {
            Item::Action { body, .. } => &self.text[body.clone()],
            _ => "",
        }
    }

    fn finding(&self, construct: Range<usize>, reason: String) -> Untranslated {
        Untranslated {
            file: self.file.to_string(),
            line: self.line(construct.start),
            construct: shorten(&self.text[construct]),
            reason,
        }
    }

    fn define_name(&self, i: usize) -> Option<String> {
        match tokenize(split_word(self.body(i)).1).ok()?.as_slice() {
            [Tok::Str(name)] => Some(name.clone()),
            _ => None,
        }
    }

    /// The body between the define at `i` and its end at `end`, trimmed as Go trims it.
    fn fragment(&self, name: String, i: usize, end: usize) -> Fragment {
        let (
            Item::Action { span: open, trim_right, .. },
            Item::Action { span: close, trim_left, .. },
        ) = (&self.items[i], &self.items[end])
        else {
            unreachable!("blocks open and end with actions")
        };
        let mut start = open.end;
        let mut stop = close.start;
        if *trim_right {
            start += leading_space(&self.text[start..stop]);
        }
        if *trim_left {
            stop -= trailing_space(&self.text[start..stop]);
        }
        Fragment {
            name,
            body: self.text[start..stop].to_string(),
            file: self.file.to_string(),
            line: self.line(start),
        }
    }
}

/// Keeps reports readable when an unterminated action swallows the rest of a file.
fn shorten(construct: &str) -> String {
    const LIMIT: usize = 120;
    match construct.char_indices().nth(LIMIT) {
        Some((at, _)) => format!("{}…", &construct[..at]),
        None => construct.to_string(),
    }
}

fn push_unique(findings: &mut Vec<Untranslated>, finding: Untranslated) {
    if !findings.contains(&finding) {
        findings.push(finding);
    }
}

// ---------------------------------------------------------------------------------------------
// Pipelines: the few Go expressions that have a Jinja equivalent.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// `.Name` or `.A.B`, without the leading dot.
    Field(String),
    Dot,
    Str(String),
    Ident(String),
    Var,
    Open,
    Close,
    Pipe,
    Other(char),
}

fn tokenize(body: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        let len = match c {
            c if is_go_space(c) => 1,
            '"' => {
                let (value, len) = quoted(rest).ok_or("invalid quoted string")?;
                toks.push(Tok::Str(value));
                len
            }
            '`' => {
                let close = rest[1..].find('`').ok_or("unterminated raw string")? + 1;
                // Go drops carriage returns from raw strings.
                toks.push(Tok::Str(rest[1..close].replace('\r', "")));
                close + 1
            }
            '.' | '$' => {
                let name_len =
                    rest[1..].find(|c| !(is_ident_char(c) || c == '.')).unwrap_or(rest.len() - 1);
                let name = &rest[1..1 + name_len];
                toks.push(match c {
                    '$' => Tok::Var,
                    _ if name.is_empty() => Tok::Dot,
                    _ => Tok::Field(name.to_string()),
                });
                1 + name_len
            }
            '(' => {
                toks.push(Tok::Open);
                1
            }
            ')' => {
                toks.push(Tok::Close);
                1
            }
            '|' => {
                toks.push(Tok::Pipe);
                1
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = rest.find(|c| !is_ident_char(c)).unwrap_or(rest.len());
                toks.push(Tok::Ident(rest[..len].to_string()));
                len
            }
            c => {
                toks.push(Tok::Other(c));
                c.len_utf8()
            }
        };
        rest = &rest[len..];
    }
    Ok(toks)
}

/// Unquotes the Go double-quoted string at the start of `s`: its value and length in `s`.
fn quoted(s: &str) -> Option<(String, usize)> {
    let mut bytes = Vec::new();
    let mut chars = s.char_indices().skip(1);
    let hex = |chars: &mut std::iter::Skip<std::str::CharIndices>, n: usize| -> Option<u32> {
        (0..n).try_fold(0, |acc, _| Some(acc * 16 + chars.next()?.1.to_digit(16)?))
    };
    while let Some((at, c)) = chars.next() {
        let unescaped = match c {
            '"' => return Some((String::from_utf8(bytes).ok()?, at + 1)),
            '\n' => return None,
            '\\' => match chars.next()?.1 {
                'a' => '\x07',
                'b' => '\x08',
                'f' => '\x0c',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\x0b',
                '\\' => '\\',
                '"' => '"',
                'x' => {
                    bytes.push(u8::try_from(hex(&mut chars, 2)?).ok()?);
                    continue;
                }
                d @ '0'..='7' => {
                    let rest = (0..2).try_fold(d.to_digit(8)?, |acc, _| {
                        Some(acc * 8 + chars.next()?.1.to_digit(8)?)
                    })?;
                    bytes.push(u8::try_from(rest).ok()?);
                    continue;
                }
                'u' => char::from_u32(hex(&mut chars, 4)?)?,
                'U' => char::from_u32(hex(&mut chars, 8)?)?,
                _ => return None,
            },
            c => c,
        };
        bytes.extend_from_slice(unescaped.encode_utf8(&mut [0; 4]).as_bytes());
    }
    None
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    Field(String),
    Dot,
    Str(String),
    Bool(bool),
    Call(String, Vec<Expr>),
}

/// Parses a pipeline without `|` or variables: one command, whose arguments may be
/// parenthesised commands.
fn parse_pipeline(toks: &[Tok]) -> Result<Expr, String> {
    let mut parser = Parser { toks, at: 0 };
    let expr = parser.command(0)?;
    match parser.toks.get(parser.at) {
        None => Ok(expr),
        Some(tok) => Err(Parser::unsupported(tok)),
    }
}

struct Parser<'a> {
    toks: &'a [Tok],
    at: usize,
}

impl Parser<'_> {
    fn unsupported(tok: &Tok) -> String {
        match tok {
            Tok::Pipe => "pipelines (`|`) have no equivalent".into(),
            Tok::Var => "template variables (`$x`) have no equivalent".into(),
            Tok::Close => "unbalanced `)`".into(),
            Tok::Other(c) => format!("`{c}` has no equivalent"),
            _ => "only functions take arguments".into(),
        }
    }

    fn command(&mut self, parens: usize) -> Result<Expr, String> {
        let (first, bare) = self.operand(parens)?;
        let (Expr::Call(name, _), true) = (&first, bare) else { return Ok(first) };
        let name = name.clone();
        let mut args = Vec::new();
        while !matches!(self.toks.get(self.at), None | Some(Tok::Close | Tok::Pipe)) {
            if args.len() == MAX_ARGS {
                return Err(format!("too many arguments for `{name}`"));
            }
            args.push(self.operand(parens)?.0);
        }
        Ok(Expr::Call(name, args))
    }

    /// One operand, and whether it is a bare function name (which takes the arguments after it).
    fn operand(&mut self, parens: usize) -> Result<(Expr, bool), String> {
        let tok = self.toks.get(self.at).ok_or("missing value")?;
        self.at += 1;
        Ok(match tok {
            Tok::Field(name) => (Expr::Field(name.clone()), false),
            Tok::Dot => (Expr::Dot, false),
            Tok::Str(s) => (Expr::Str(s.clone()), false),
            Tok::Ident(name) if name == "true" || name == "false" => {
                (Expr::Bool(name == "true"), false)
            }
            Tok::Ident(name) => (Expr::Call(name.clone(), Vec::new()), true),
            Tok::Open if parens == MAX_PARENS => return Err("parentheses nested too deeply".into()),
            Tok::Open => {
                let inner = self.command(parens + 1)?;
                match self.toks.get(self.at) {
                    Some(Tok::Close) => self.at += 1,
                    Some(tok) => return Err(Parser::unsupported(tok)),
                    None => return Err("unclosed `(`".into()),
                }
                // A parenthesised command is complete: it takes no further arguments.
                match inner {
                    Expr::Call(name, args) => (Expr::Call(name, args), false),
                    other => (other, false),
                }
            }
            tok => return Err(Parser::unsupported(tok)),
        })
    }
}

/// A translated value: known now, or a Jinja expression of some type.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Val {
    Lit(String),
    Bool(bool),
    Code(String, Ty),
}

/// The type of a Jinja expression, which decides how it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Str,
    Bool,
    /// `and`/`or` over strings and booleans: either, depending on the values.
    Mixed,
}

impl Val {
    fn jinja(&self) -> String {
        match self {
            Val::Lit(s) => jinja_string(s),
            Val::Bool(b) => b.to_string(),
            Val::Code(code, _) => code.clone(),
        }
    }

    fn ty(&self) -> Ty {
        match self {
            Val::Lit(_) => Ty::Str,
            Val::Bool(_) => Ty::Bool,
            Val::Code(_, ty) => *ty,
        }
    }

    /// Go's truth, when known now: non-empty strings and `true`.
    fn truth(&self) -> Option<bool> {
        match self {
            Val::Lit(s) => Some(!s.is_empty()),
            Val::Bool(b) => Some(*b),
            Val::Code(..) => None,
        }
    }
}

fn jinja_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Output: literal text and Jinja code, escaped where they meet.

enum Seg {
    Text(String),
    Code(String),
}

#[derive(Default)]
struct Out {
    segs: Vec<Seg>,
}

impl Out {
    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        match self.segs.last_mut() {
            Some(Seg::Text(text)) => text.push_str(s),
            _ => self.segs.push(Seg::Text(s.to_string())),
        }
    }

    fn code(&mut self, code: String) {
        self.segs.push(Seg::Code(code));
    }

    /// Prints `val` as Go would; Jinja prints booleans as `True`/`False`, Go as `true`/`false`.
    fn value(&mut self, val: Val) -> Result<(), String> {
        match val {
            Val::Lit(s) => self.text(&s),
            Val::Bool(b) => self.text(if b { "true" } else { "false" }),
            Val::Code(code, Ty::Str) => self.code(format!("{{{{ {code} }}}}")),
            Val::Code(code, Ty::Bool) => {
                self.code(format!("{{{{ \"true\" if {code} else \"false\" }}}}"))
            }
            Val::Code(_, Ty::Mixed) => {
                return Err("a value that may be a string or a boolean has no equivalent".into());
            }
        }
        Ok(())
    }

    /// Original text, shown as it is; split wherever `{%` could end the raw block early.
    fn raw(&mut self, s: &str) {
        for (k, piece) in s.split("{%").enumerate() {
            if k > 0 {
                self.code("{{ \"{%\" }}".into());
            }
            if !piece.is_empty() {
                self.code(format!("{{% raw %}}{piece}{{% endraw %}}"));
            }
        }
    }

    fn comment(&mut self, s: &str) {
        self.code(format!("{{# {} #}}", s.replace("#}", "# }")));
    }

    fn finish(self) -> String {
        let mut out = String::new();
        let count = self.segs.len();
        for (k, seg) in self.segs.into_iter().enumerate() {
            match seg {
                Seg::Text(text) => escape_text(&mut out, &text, k + 1 < count),
                Seg::Code(code) => out.push_str(&code),
            }
        }
        out
    }
}

/// Literal text, with every `{` that would start Jinja syntax written as a string expression;
/// a final `{` counts when code (which always starts with `{`) follows.
fn escape_text(out: &mut String, text: &str, code_follows: bool) {
    let mut rest = text;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after.chars().next() {
            Some(c @ ('{' | '%' | '#')) => {
                out.push_str(&format!("{{{{ \"{{{c}\" }}}}"));
                rest = &after[1..];
            }
            None if code_follows => {
                out.push_str("{{ \"{\" }}");
                rest = after;
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

// ---------------------------------------------------------------------------------------------
// Translation.

struct Translator<'a> {
    scope: &'a Scope,
    fragments: &'a BTreeMap<String, Fragment>,
    local: BTreeMap<String, Fragment>,
    untranslated: Vec<Untranslated>,
    notes: Vec<Untranslated>,
    /// The fragments being inlined, innermost last.
    inlining: Vec<String>,
    inlines: usize,
}

impl Translator<'_> {
    /// Translates `items` of `src`; `nesting` counts the `if`s around them.
    fn block(&mut self, src: &Src, items: Range<usize>, nesting: usize, out: &mut Out) {
        let mut i = items.start;
        while i < items.end {
            let span = src.items[i].span();
            match &src.items[i] {
                Item::Text(text) => out.text(&src.text[text.clone()]),
                Item::Comment { body, .. } => out.comment(&src.text[body.clone()]),
                Item::Broken { reason, .. } => self.keep(src, span.clone(), span, reason, out),
                Item::Action { .. } => match (src.words[i], src.end_of[i]) {
                    (word, None) if word.opens() => {
                        self.keep(src, span.clone(), span, "no matching {{ end }}", out)
                    }
                    (word, Some(end)) if word.opens() => {
                        self.block_action(src, word, i, end, nesting, out);
                        i = end;
                    }
                    (Word::Else | Word::End, _) => {
                        self.keep(src, span.clone(), span, "no block to end here", out)
                    }
                    (Word::Template, _) => self.inline(src, i, nesting, out),
                    _ => {
                        let mut notes = Vec::new();
                        match self.pipeline(src.body(i), &mut notes).and_then(|val| out.value(val))
                        {
                            Ok(()) => self.note(src, span, notes),
                            Err(reason) => self.keep(src, span.clone(), span, &reason, out),
                        }
                    }
                },
            }
            i += 1;
        }
    }

    /// The block from the opener at `i` to its `{{ end }}` at `end`.
    fn block_action(
        &mut self,
        src: &Src,
        word: Word,
        i: usize,
        end: usize,
        nesting: usize,
        out: &mut Out,
    ) {
        let opener = src.items[i].span();
        let whole = opener.start..src.items[end].span().end;
        match word {
            // Go prints nothing where a template is defined; it is inlined where it is used.
            Word::Define if src.define_name(i).is_some() => {}
            Word::Define => {
                self.keep(src, whole, opener, "a define needs exactly one quoted name", out)
            }
            Word::If if nesting >= MAX_NESTING => {
                self.keep(src, whole, opener, "nested too deeply", out)
            }
            Word::If => self.if_block(src, i, end, nesting, out),
            _ => {
                let reason = format!("`{}` has no equivalent", split_word(src.body(i)).0);
                self.keep(src, whole, opener, &reason, out);
            }
        }
    }

    fn if_block(&mut self, src: &Src, i: usize, end: usize, nesting: usize, out: &mut Out) {
        let opener = src.items[i].span();
        let whole = opener.start..src.items[end].span().end;
        let bounds: Vec<usize> = std::iter::once(i)
            .chain(src.elses[i].iter().copied())
            .chain(std::iter::once(end))
            .collect();
        let mut branches = Vec::new();
        let mut notes = Vec::new();
        for (k, pair) in bounds.windows(2).enumerate() {
            let after_keyword = split_word(src.body(pair[0])).1;
            let condition = if k == 0 {
                Some(after_keyword)
            } else {
                match split_word(after_keyword) {
                    ("", rest) if rest.trim_matches(is_go_space).is_empty() => None,
                    ("if", rest) => Some(rest),
                    _ => {
                        let reason = "only `else` and `else if` have an equivalent";
                        return self.keep(src, whole, opener, reason, out);
                    }
                }
            };
            if condition.is_none() && k + 2 != bounds.len() {
                return self.keep(src, whole, opener, "`else` must come last", out);
            }
            let condition = match condition.map(|c| self.pipeline(c, &mut notes)).transpose() {
                Ok(condition) => condition,
                Err(reason) => return self.keep(src, whole, opener, &reason, out),
            };
            branches.push((condition, pair[0] + 1..pair[1]));
        }
        self.note(src, opener, notes);
        // Conditions known now (rig placeholders of city-wide agents, literals) pick their
        // branch here; branches that can never be taken are left out.
        let mut opened = false;
        for (condition, body) in branches {
            match condition.as_ref().map(|c| (c.truth(), c)) {
                Some((Some(false), _)) => continue,
                Some((None, code)) => {
                    let tag = if opened { "elif" } else { "if" };
                    out.code(format!("{{% {tag} {} %}}", code.jinja()));
                    opened = true;
                    self.block(src, body, nesting + 1, out);
                }
                None | Some((Some(true), _)) => {
                    if opened {
                        out.code("{% else %}".into());
                    }
                    self.block(src, body, nesting + 1, out);
                    break;
                }
            }
        }
        if opened {
            out.code("{% endif %}".into());
        }
    }

    /// `{{ template "name" . }}`: the fragment's body, translated in place.
    fn inline(&mut self, src: &Src, i: usize, nesting: usize, out: &mut Out) {
        let span = src.items[i].span();
        let name = match tokenize(split_word(src.body(i)).1).as_deref() {
            Ok([Tok::Str(name)] | [Tok::Str(name), Tok::Dot]) => name.clone(),
            _ => {
                return self.keep(
                    src,
                    span.clone(),
                    span,
                    "only `template \"name\" .` has an equivalent",
                    out,
                );
            }
        };
        let Some(fragment) = self.local.get(&name).or_else(|| self.fragments.get(&name)).cloned()
        else {
            return self.keep(src, span.clone(), span, &format!("no fragment named {name}"), out);
        };
        let refusal = if self.inlining.contains(&name) {
            Some(format!("fragment {name} includes itself"))
        } else if self.inlining.len() >= MAX_INLINE_DEPTH {
            Some("fragments nested too deeply".to_string())
        } else if self.inlines >= MAX_INLINES {
            Some("too many fragments inlined".to_string())
        } else {
            None
        };
        if let Some(reason) = refusal {
            return self.keep(src, span.clone(), span, &reason, out);
        }
        self.inlines += 1;
        self.inlining.push(name);
        let inner = Src::new(&fragment.file, &fragment.body, fragment.line);
        self.block(&inner, 0..inner.items.len(), nesting, out);
        self.inlining.pop();
    }

    fn pipeline(&self, body: &str, notes: &mut Vec<String>) -> Result<Val, String> {
        let expr = parse_pipeline(&tokenize(body)?)?;
        self.eval(&expr, notes)
    }

    fn eval(&self, expr: &Expr, notes: &mut Vec<String>) -> Result<Val, String> {
        match expr {
            Expr::Str(s) => Ok(Val::Lit(s.clone())),
            Expr::Bool(b) => Ok(Val::Bool(*b)),
            Expr::Dot => Err("`.` (all of the template's data) has no equivalent".into()),
            Expr::Field(name) => self.field(name, notes),
            Expr::Call(name, args) => self.call(name, args, notes),
        }
    }

    fn field(&self, name: &str, notes: &mut Vec<String>) -> Result<Val, String> {
        let code = |code: &str| Val::Code(code.to_string(), Ty::Str);
        let rig = |field: &str| match self.scope.rig_scoped {
            true => code(field),
            false => Val::Lit(String::new()),
        };
        Ok(match name {
            "Agent" | "AgentName" => code("agent.name"),
            "AgentBase" => code("agent.base"),
            "CityRoot" => code("city.dir"),
            "CityName" => code("city.name"),
            "WorkDir" => code("agent.work_dir"),
            "Session" => code("session.name"),
            "ConfigDir" => match self.scope.config_dir.trim_matches('/') {
                "" => code("city.dir"),
                dir => code(&format!("(city.dir ~ {})", jinja_string(&format!("/{dir}")))),
            },
            "Rig" | "RigName" => rig("rig.name"),
            "RigRoot" => rig("rig.path"),
            "IssuePrefix" => rig("rig.prefix"),
            // Agents find their work with `gc hook` here.
            "WorkQuery" => Val::Lit("gc hook".into()),
            "DefaultBranch" => {
                notes.push("gc has no default-branch variable; written as `main`".into());
                Val::Lit("main".into())
            }
            _ => return Err(format!("unknown field .{name}")),
        })
    }

    fn call(&self, name: &str, args: &[Expr], notes: &mut Vec<String>) -> Result<Val, String> {
        let vals = |notes: &mut Vec<String>| -> Result<Vec<Val>, String> {
            args.iter().map(|arg| self.eval(arg, notes)).collect()
        };
        match (name, args.len()) {
            ("cmd", 0) => Ok(Val::Lit("gc".into())),
            ("basename", 1) => match &args[0] {
                Expr::Field(field)
                    if matches!(field.as_str(), "Agent" | "AgentName" | "AgentBase") =>
                {
                    Ok(Val::Code("agent.base".into(), Ty::Str))
                }
                Expr::Str(s) => Ok(Val::Lit(s.rsplit('/').next().unwrap_or_default().to_string())),
                _ => Err("`basename` of anything but the agent's name has no equivalent".into()),
            },
            ("not", 1) => Ok(match self.eval(&args[0], notes)? {
                Val::Code(code, _) => Val::Code(format!("(not {code})"), Ty::Bool),
                known => Val::Bool(known.truth() == Some(false)),
            }),
            ("eq", 2..) | ("ne", 2) => {
                let vals = vals(notes)?;
                let (first, rest) = vals.split_first().expect("at least two arguments");
                if vals.iter().all(|v| v.truth().is_some()) {
                    let mut equal = false;
                    for other in rest {
                        if std::mem::discriminant(first) != std::mem::discriminant(other) {
                            return Err(format!("`{name}` compares values of different types"));
                        }
                        equal |= first == other;
                    }
                    return Ok(Val::Bool(equal == (name == "eq")));
                }
                let op = if name == "eq" { "==" } else { "!=" };
                let terms: Vec<String> = rest
                    .iter()
                    .map(|other| format!("{} {op} {}", first.jinja(), other.jinja()))
                    .collect();
                Ok(Val::Code(format!("({})", terms.join(" or ")), Ty::Bool))
            }
            ("and" | "or", 1..) => {
                let vals = vals(notes)?;
                // Go returns the first argument that decides, as Jinja does.
                if vals.iter().all(|v| v.truth().is_some()) {
                    let decides = |v: &&Val| v.truth() == Some(name == "or");
                    return Ok(vals.iter().find(decides).unwrap_or(&vals[vals.len() - 1]).clone());
                }
                let terms: Vec<String> = vals.iter().map(Val::jinja).collect();
                let ty = match vals.iter().all(|v| v.ty() == vals[0].ty()) {
                    true => vals[0].ty(),
                    false => Ty::Mixed,
                };
                Ok(Val::Code(format!("({})", terms.join(&format!(" {name} "))), ty))
            }
            ("cmd" | "basename" | "not" | "eq" | "ne" | "and" | "or", _) => {
                Err(format!("wrong number of arguments for `{name}`"))
            }
            _ => Err(format!("function `{name}` has no equivalent")),
        }
    }

    /// Keeps `kept` verbatim and reports the construct at `construct`.
    fn keep(
        &mut self,
        src: &Src,
        kept: Range<usize>,
        construct: Range<usize>,
        reason: &str,
        out: &mut Out,
    ) {
        out.raw(&src.text[kept]);
        push_unique(&mut self.untranslated, src.finding(construct, reason.to_string()));
    }

    fn note(&mut self, src: &Src, construct: Range<usize>, reasons: Vec<String>) {
        for reason in reasons {
            push_unique(&mut self.notes, src.finding(construct.clone(), reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::{Environment, UndefinedBehavior};
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use std::path::{Path, PathBuf};

    fn scope(rig_scoped: bool) -> Scope {
        Scope { rig_scoped, config_dir: "packs/gastown".into() }
    }

    /// A full gc prompt context; `rig` is `none` for city-wide agents.
    fn context(rig: bool) -> Value {
        json!({
            "city": {"name": "town", "dir": "/home/town"},
            "agent": {
                "name": "demo-polecat",
                "base": "polecat",
                "provider": "claude",
                "work_dir": "/home/town/demo/polecat",
                "description": "",
            },
            "rig": if rig { json!({"name": "demo", "path": "/src/demo", "prefix": "de"}) } else { Value::Null },
            "session": {"name": "gc-town-demo-polecat", "index": 0},
        })
    }

    /// Renders as `prompt::render` does: a default environment with strict undefined checks.
    fn try_render(text: &str, rig: bool) -> Result<String, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.render_str(text, minijinja::value::Serde(context(rig)))
    }

    fn render(text: &str, rig: bool) -> String {
        try_render(text, rig).unwrap_or_else(|e| panic!("{e:#}\n--- translated:\n{text}"))
    }

    fn with(text: &str, rig: bool, fragments: &BTreeMap<String, Fragment>) -> Translated {
        translate("prompt.template.md", text, &scope(rig), fragments)
    }

    /// What the translation of `text` prints; fails on anything untranslated.
    fn go(text: &str, rig: bool) -> String {
        let t = with(text, rig, &BTreeMap::new());
        assert_eq!(t.untranslated, [], "{text}");
        render(&t.text, rig)
    }

    #[test]
    fn placeholders_become_context_variables() {
        let text = "{{ .AgentName }}|{{ .Agent }}|{{ .AgentBase }}|{{ basename .AgentName }}|\
                    {{ basename .Agent }}|{{ .CityRoot }}|{{ .CityName }}|{{ .WorkDir }}|\
                    {{ .Session }}|{{ .ConfigDir }}|{{ cmd }}|{{ .WorkQuery }}|{{.AgentName}}|\
                    {{ .RigName }}|{{ .Rig }}|{{ .RigRoot }}|{{ .IssuePrefix }}";
        let city = "demo-polecat|demo-polecat|polecat|polecat|polecat|/home/town|town|\
                    /home/town/demo/polecat|gc-town-demo-polecat|/home/town/packs/gastown|gc|\
                    gc hook|demo-polecat|";
        assert_eq!(go(text, true), format!("{city}demo|demo|/src/demo|de"));
        assert_eq!(go(text, false), format!("{city}|||"));
        let t = with(text, false, &BTreeMap::new());
        assert!(!t.text.contains("rig."), "{}", t.text);
        assert_eq!(t.notes, []);
        let bare = Scope { rig_scoped: false, config_dir: String::new() };
        let t = translate("p", "{{ .ConfigDir }}", &bare, &BTreeMap::new());
        assert_eq!(render(&t.text, false), "/home/town");
    }

    #[test]
    fn default_branch_is_approximated_and_noted() {
        let t = with("intro\ngit push origin {{ .DefaultBranch }}", true, &BTreeMap::new());
        assert_eq!(render(&t.text, true), "intro\ngit push origin main");
        assert_eq!(t.untranslated, []);
        assert_eq!(t.notes.len(), 1);
        let note = &t.notes[0];
        assert_eq!((note.file.as_str(), note.line), ("prompt.template.md", 2));
        assert_eq!(note.construct, "{{ .DefaultBranch }}");
        assert!(note.reason.contains("default-branch"), "{}", note.reason);
    }

    #[test]
    fn string_literals_print_their_text() {
        let text = r#"gc nudge {{"{{requester}}"}}/ {{ "a\tb\u00e9\x41\101\"" }} {{ `raw {% "x" %} }} \n` }}"#;
        assert_eq!(go(text, true), "gc nudge {{requester}}/ a\tbéAA\" raw {% \"x\" %} }} \\n");
        assert_eq!(
            go(r##"{{ "{" }}{{ .AgentBase }}{{ "{" }}{{ "#" }}{{ "{" }}"##, false),
            "{polecat{#{"
        );
        assert_eq!(go("{{ `a\r\nb` }}", false), "a\nb");
    }

    #[test]
    fn literal_jinja_syntax_in_text_stays_literal() {
        let text = "100% {% if x %} {# no #} {%- raw -%} {{ cmd }}{ }";
        assert_eq!(go(text, true), "100% {% if x %} {# no #} {%- raw -%} gc{ }");
        assert_eq!(go("{{ \"{{\" }}{{ \"%\" }} {{ \"{\" }}{{ \"#\" }}", false), "{{% {#");
    }

    #[test]
    fn comments_become_jinja_comments() {
        let text = "a {{/* note #} here\n */}} b{{- /* trimmed */ -}}  c";
        let t = with(text, true, &BTreeMap::new());
        assert!(t.text.contains("{#  note # } here\n  #}"), "{}", t.text);
        assert_eq!(render(&t.text, true), "a  bc");
    }

    #[test]
    fn trim_markers_are_applied_to_the_text_around() {
        assert_eq!(go("x  \n {{- .AgentBase -}} \n\t y", true), "xpolecaty");
        assert_eq!(go("{{- cmd }} \n{{ cmd -}}\n\n", true), "gc \ngc");
        assert_eq!(go("a {{- \"\" -}} b", true), "ab");
        // `-` without a following space is not a trim marker.
        assert_eq!(go("a {{ \"-\"}} b", true), "a - b");
        let text = "a\n{{- define \"f\" -}}\n  body\n{{- end -}}\nb {{ template \"f\" . }}";
        assert_eq!(go(text, true), "ab body");
        let text = "{{ if .RigName -}}\n  rig\n{{- else -}}\n  city\n{{- end }}.";
        assert_eq!((go(text, true), go(text, false)), ("rig.".into(), "city.".into()));
    }

    #[test]
    fn conditions_become_jinja_ifs() {
        let text = "{{ if .RigName }}rig {{ .RigName }}{{ else if .AgentBase }}agent{{ else }}none{{ end }}";
        assert_eq!((go(text, true), go(text, false)), ("rig demo".into(), "agent".into()));
        let text = "{{ if not .IssuePrefix }}no prefix{{ end }}";
        assert_eq!((go(text, true), go(text, false)), ("".into(), "no prefix".into()));
        let text = "{{ if eq .AgentBase \"polecat\" }}P{{ end }}{{ if ne .AgentBase \"polecat\" }}N{{ end }}\
                    {{ if eq .AgentBase \"x\" \"polecat\" }}M{{ end }}{{ if eq .RigName \"demo\" }}D{{ end }}";
        assert_eq!((go(text, true), go(text, false)), ("PMD".into(), "PM".into()));
        let text = "{{ if and .RigName (eq .AgentBase \"polecat\") }}A{{ end }}\
                    {{ if or .RigName .CityName }}O{{ end }}{{ if (not .AgentBase) }}X{{ end }}";
        assert_eq!((go(text, true), go(text, false)), ("AO".into(), "O".into()));
        let text = "{{ if true }}T{{ end }}{{ if false }}F{{ else if \"\" }}E{{ end }}";
        assert_eq!(go(text, false), "T");
        let text =
            "{{ if .AgentBase }}{{ if .RigRoot }}in {{ .RigRoot }}{{ else }}city{{ end }}{{ end }}";
        assert_eq!((go(text, true), go(text, false)), ("in /src/demo".into(), "city".into()));
    }

    #[test]
    fn jinja_delimiters_inside_strings_in_conditions_are_harmless() {
        let text =
            r#"{{ if eq .AgentBase "%}}#}{%" }}x{{ else }}y{{ end }}{{ eq .AgentBase "}}\"" }}"#;
        assert_eq!(go(text, true), "yfalse");
    }

    #[test]
    fn conditions_known_at_translation_time_leave_no_if_behind() {
        let text = "{{ if .RigRoot }}A{{ else }}B{{ end }}|{{ if .IssuePrefix }}P{{ else if .AgentBase }}Q{{ end }}";
        let t = with(text, false, &BTreeMap::new());
        assert_eq!(t.text, "B|{% if agent.base %}Q{% endif %}");
        assert_eq!(render(&t.text, false), "B|Q");
    }

    #[test]
    fn boolean_and_value_pipelines_print_as_go_does() {
        let text = "{{ not .RigName }} {{ eq cmd \"gc\" }} {{ or .RigName \"no rig\" }} \
                    {{ and .AgentBase .CityName }} {{ or .IssuePrefix .AgentBase }}";
        assert_eq!(go(text, true), "false true demo town de");
        assert_eq!(go(text, false), "true true no rig town polecat");
    }

    fn fragment(name: &str, body: &str, file: &str, line: usize) -> (String, Fragment) {
        let fragment = Fragment { name: name.into(), body: body.into(), file: file.into(), line };
        (name.into(), fragment)
    }

    #[test]
    fn template_calls_inline_fragments() {
        let fragments = BTreeMap::from([
            fragment(
                "greet",
                "Hello {{ .AgentBase }}\n{{ range .X }}r{{ end }}",
                "frags/g.template.md",
                3,
            ),
            fragment("x", "global", "frags/x.template.md", 1),
        ]);
        let text = "{{ template \"greet\" . }}!{{ template \"x\" }}";
        let t = with(text, true, &fragments);
        assert_eq!(render(&t.text, true), "Hello polecat\n{{ range .X }}r{{ end }}!global");
        let finding = &t.untranslated[..];
        assert_eq!(finding.len(), 1);
        assert_eq!((finding[0].file.as_str(), finding[0].line), ("frags/g.template.md", 4));
        assert_eq!(finding[0].construct, "{{ range .X }}");

        let local = "{{ define \"x\" }}local{{ end }}{{ template \"x\" . }}";
        assert_eq!(render(&with(local, true, &fragments).text, true), "local");

        let t = with("a {{ template \"nope\" . }}", true, &fragments);
        assert_eq!(render(&t.text, true), "a {{ template \"nope\" . }}");
        assert_eq!(t.untranslated[0].reason, "no fragment named nope");

        let cycle = "{{ define \"a\" }}A{{ template \"b\" . }}{{ end }}\
                     {{ define \"b\" }}B{{ template \"a\" . }}{{ end }}{{ template \"a\" . }}";
        let t = with(cycle, true, &fragments);
        assert_eq!(render(&t.text, true), "AB{{ template \"a\" . }}");
        assert_eq!(t.untranslated[0].reason, "fragment a includes itself");
    }

    #[test]
    fn fragments_referring_to_each_other_many_times_stay_bounded() {
        let mut text = String::from("{{ define \"f0\" }}x{{ end }}");
        for n in 1..40 {
            let call = format!("{{{{ template \"f{}\" . }}}}", n - 1);
            text.push_str(&format!("{{{{ define \"f{n}\" }}}}{call}{call}{{{{ end }}}}"));
        }
        text.push_str("{{ template \"f39\" . }}");
        let t = with(&text, true, &BTreeMap::new());
        assert!(t.untranslated.iter().any(|u| u.reason == "too many fragments inlined"));
        render(&t.text, true);
    }

    #[test]
    fn constructs_without_equivalent_are_kept_verbatim_and_reported() {
        let cases = [
            (
                "{{ range .Items }}- {{ . }}\n{{ end }}",
                "{{ range .Items }}",
                "`range` has no equivalent",
            ),
            (
                "{{ with .Foo }}{{ . }}{{ else }}none{{ end }}",
                "{{ with .Foo }}",
                "`with` has no equivalent",
            ),
            ("{{ block \"b\" . }}x{{ end }}", "{{ block \"b\" . }}", "`block` has no equivalent"),
            ("{{ .AgentName | printf \"%s\" }}", "", "pipelines (`|`) have no equivalent"),
            ("{{ printf \"%s\" .AgentName }}", "", "function `printf` has no equivalent"),
            ("{{ .Foo }}", "", "unknown field .Foo"),
            ("{{ .Agent.Name }}", "", "unknown field .Agent.Name"),
            ("{{ . }}", "", "`.` (all of the template's data) has no equivalent"),
            ("{{ $x := .AgentName }}", "", "template variables (`$x`) have no equivalent"),
            ("{{ session \"mayor\" }}", "", "function `session` has no equivalent"),
            ("{{ 3 }}", "", "`3` has no equivalent"),
            (
                "{{ basename .RigRoot }}",
                "",
                "`basename` of anything but the agent's name has no equivalent",
            ),
            ("{{ if .Foo }}a{{ else }}b{{ end }}", "{{ if .Foo }}", "unknown field .Foo"),
            (
                "{{ if .RigName }}a{{ else with .X }}b{{ end }}",
                "{{ if .RigName }}",
                "only `else` and `else if` have an equivalent",
            ),
            (
                "{{ range .X }}{% endraw %}{%raw%}{{ end }}",
                "{{ range .X }}",
                "`range` has no equivalent",
            ),
            ("{{ template \"a\" .X }}", "", "only `template \"name\" .` has an equivalent"),
            (
                "{{ or .RigName (not .AgentBase) }}",
                "",
                "a value that may be a string or a boolean has no equivalent",
            ),
        ];
        for (go_text, construct, reason) in cases {
            let construct = if construct.is_empty() { go_text } else { construct };
            for rig in [true, false] {
                let text = format!("intro\n{go_text} outro");
                let t = with(&text, rig, &BTreeMap::new());
                assert_eq!(render(&t.text, rig), text, "{}", t.text);
                let expected = Untranslated {
                    file: "prompt.template.md".into(),
                    line: 2,
                    construct: construct.into(),
                    reason: reason.into(),
                };
                assert_eq!(t.untranslated, [expected]);
            }
        }
    }

    #[test]
    fn malformed_templates_are_kept_and_reported_without_panicking() {
        let cases = [
            "a {{ .AgentName",
            "a {{ \"unterminated }} b",
            "a {{ \"unterminated\n}} b",
            "a {{ `unterminated }} b",
            "{{ end }} x",
            "{{ else }} x",
            "{{ if .RigName }}x",
            "{{ if .RigName }}x{{ end y }}",
            "{{/* open",
            "{{/* x */ }}",
            "{{ if .RigName }}a{{ else }}b{{ else }}c{{ end }}",
            "{{ if }}a{{ end }}",
            "{{ define }}x{{ end }}",
            "{{ template }}",
            "{{ }}",
            "{{- -}}",
            "{{ ( }}",
            "{{ (cmd }}",
            "{{ cmd) }}",
            "{{ \"\\q\" }}",
            "{{ \"\\xff\" }}",
            "{{ not }}",
            "{{ eq .AgentName }}",
            "{{ eq \"a\" true }}",
            "{{ cmd \"x\" }}",
            "{{ .AgentName \"x\" }}",
            "émoji ✓ {{ .Ünïcode }} {{ é }}",
        ];
        for text in cases {
            for rig in [true, false] {
                let t = with(text, rig, &BTreeMap::new());
                assert!(!t.untranslated.is_empty(), "{text}");
                assert_eq!(render(&t.text, rig), text, "{}", t.text);
            }
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        for depth in [30, 10_000] {
            let text =
                format!("{}x{}", "{{ if .AgentBase }}".repeat(depth), "{{ end }}".repeat(depth));
            let t = with(&text, true, &BTreeMap::new());
            assert_eq!(t.untranslated.len(), 1);
            assert_eq!(t.untranslated[0].reason, "nested too deeply");
            render(&t.text, true);
        }
        let text = format!(
            "{{{{ if {}.AgentBase{} }}}}x{{{{ end }}}}",
            "(not ".repeat(20),
            ")".repeat(20)
        );
        let t = with(&text, true, &BTreeMap::new());
        assert_eq!(t.untranslated[0].reason, "parentheses nested too deeply");
        render(&t.text, true);
        let text =
            format!("{{{{ if {}.AgentBase{} }}}}x{{{{ end }}}}", "(not ".repeat(8), ")".repeat(8));
        assert_eq!(go(&text, true), "x");
    }

    #[test]
    fn fragment_files_yield_their_defines() {
        let text = "preamble {{ .Foo }}\n\
                    {{ define \"one\" }}\n\
                    One {{ if .RigName }}{{ .Nope }}{{ end }}\n\
                    {{ end }}\n\
                    {{- define \"two\" -}}\n  Two\n{{- end -}}\n\
                    {{ if .X }}{{ end }}\n\
                    {{ define 3 }}{{ end }}\n\
                    {{ define \"open\" }}\n";
        let (fragments, problems) = parse_fragments("f.template.md", text);
        let names: Vec<_> =
            fragments.iter().map(|f| (f.name.as_str(), f.body.as_str(), f.line)).collect();
        assert_eq!(
            names,
            [("one", "\nOne {{ if .RigName }}{{ .Nope }}{{ end }}\n", 2), ("two", "Two", 6)]
        );
        let problems: Vec<_> = problems.iter().map(|p| (p.line, p.reason.as_str())).collect();
        assert_eq!(
            problems,
            [(9, "a define needs exactly one quoted name"), (10, "no matching {{ end }}")]
        );
        let map = fragments.into_iter().map(|f| (f.name.clone(), f)).collect();
        let t = translate("p", "{{ template \"one\" . }}", &scope(true), &map);
        assert_eq!((t.untranslated[0].file.as_str(), t.untranslated[0].line), ("f.template.md", 3));
    }

    fn template_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
            .into_iter()
            .map(|entry| entry.unwrap().into_path())
            .filter(|path| path.to_string_lossy().ends_with(".template.md"))
            .collect();
        files.sort();
        files
    }

    /// The pack (`packs/<name>`) a file belongs to, if any.
    fn pack_of(path: &Path) -> Option<String> {
        let parts: Vec<_> = path.components().map(|c| c.as_os_str().to_string_lossy()).collect();
        let at = parts.iter().position(|part| part == "packs")?;
        Some(parts.get(at + 1)?.to_string())
    }

    #[test]
    fn every_gascity_fixture_prompt_translates_completely() {
        let Some(root) = crate::import::gascity_fixtures() else {
            eprintln!("skipped: no Gas City fixtures");
            return;
        };
        let mut prompts = 0;
        for example in std::fs::read_dir(root.join("examples")).unwrap() {
            let example = example.unwrap().path();
            let files = template_files(&example);
            let is_fragment =
                |path: &Path| path.parent().is_some_and(|dir| dir.ends_with("template-fragments"));
            // Fragments of every pack of the example, each pack's own taking precedence.
            let mut all = Vec::new();
            for path in files.iter().filter(|path| is_fragment(path)) {
                let text = std::fs::read_to_string(path).unwrap();
                let (fragments, problems) = parse_fragments(&path.to_string_lossy(), &text);
                assert_eq!(problems, [], "{}", path.display());
                assert!(!fragments.is_empty(), "{}", path.display());
                all.extend(fragments.into_iter().map(|f| (pack_of(path), f)));
            }
            let map_for = |pack: &Option<String>| -> BTreeMap<String, Fragment> {
                let others = all.iter().filter(|(p, _)| p != pack);
                let own = all.iter().filter(|(p, _)| p == pack);
                others.chain(own).map(|(_, f)| (f.name.clone(), f.clone())).collect()
            };
            for (pack, fragment) in &all {
                let call = format!("{{{{ template \"{}\" . }}}}", fragment.name);
                for rig in [true, false] {
                    let t = translate("call", &call, &scope(rig), &map_for(pack));
                    assert_eq!(t.untranslated, [], "{}", fragment.file);
                    render(&t.text, rig);
                }
            }
            for path in files.iter().filter(|path| !is_fragment(path)) {
                let text = std::fs::read_to_string(path).unwrap();
                let fragments = map_for(&pack_of(path));
                for rig in [true, false] {
                    let t = translate(&path.to_string_lossy(), &text, &scope(rig), &fragments);
                    assert_eq!(t.untranslated, [], "{}", path.display());
                    assert!(
                        t.notes.iter().all(|n| n.construct == "{{ .DefaultBranch }}"),
                        "{:?}",
                        t.notes
                    );
                    let out = render(&t.text, rig);
                    for go in ["{{ .", "{{.", "{{ template", "{{ cmd", "{{ basename", "{{ end"] {
                        assert!(!out.contains(go), "{} still has {go}", path.display());
                    }
                    if path.ends_with("maintenance/agents/dog/prompt.template.md") {
                        assert!(out.contains("gc nudge {{requester}}/ \"DOG_DONE"), "{out}");
                    }
                }
                prompts += 1;
            }
        }
        assert!(prompts >= 15, "only {prompts} prompts found");
    }

    /// Template pieces, and whole actions so that well-formed blocks turn up often.
    const PIECES: &[&str] = &[
        "{{ if .RigName }}",
        "{{ if not .AgentBase }}",
        "{{ else if eq .RigRoot \"x\" }}",
        "{{ else }}",
        "{{ end }}",
        "{{- end -}}",
        "{{ define \"a\" }}",
        "{{ template \"a\" . }}",
        "{{ range .X }}",
        "{{/* c */}}",
        "{{",
        "}}",
        "{{- ",
        " -}}",
        "if ",
        "else ",
        "end",
        "range ",
        "with ",
        "define \"a\"",
        "template \"a\" .",
        ".RigName",
        ".AgentName",
        ".DefaultBranch",
        "basename ",
        "not ",
        "eq ",
        "cmd",
        "(",
        ")",
        "|",
        "$x",
        "{%",
        "%}",
        "{#",
        "#}",
        "{% endraw %}",
        "{",
        "}",
        "\"",
        "`",
        "'",
        "\\",
        "/*",
        "*/",
        "\n",
        " ",
        "-",
        "text",
        "é✓",
        "\u{0}",
    ];

    proptest! {
        #[test]
        fn any_input_translates_to_a_template_that_renders(
            pieces in prop::collection::vec(prop::sample::select(PIECES), 0..48)
        ) {
            let text = pieces.concat();
            let (fragments, _) = parse_fragments("f", &text);
            let fragments = fragments.into_iter().map(|f| (f.name.clone(), f)).collect();
            for rig in [true, false] {
                let t = translate("p", &text, &scope(rig), &fragments);
                let rendered = try_render(&t.text, rig);
                prop_assert!(rendered.is_ok(), "{:?}\n--- from:\n{text}\n--- to:\n{}", rendered, t.text);
            }
        }
    }
}
