//! [`ScenarioError`]: one problem in a scenario file, rendered like rustc.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Level, Origin, Renderer, Snippet};

/// A scenario file that could not be read, parsed or validated.
///
/// Carries the message, the file name, the file's text and (when the problem
/// has a location) the byte span it is about. [`Display`](fmt::Display)
/// renders a rustc-style report without colors:
///
/// ```text
/// error: unknown node `n7`: the cluster has nodes n0..n4
///   --> scenarios/bad.toml:14:8
///    |
/// 14 | node = "n7"
///    |        ^^^^
/// ```
#[derive(Debug, Clone)]
pub struct ScenarioError {
    message: String,
    help: Option<String>,
    /// Byte span into `source`, already clamped to it (see [`normalize_span`]).
    span: Option<Range<usize>>,
    file_name: String,
    source: String,
}

impl ScenarioError {
    /// An error without location or file; see [`ScenarioError::at`] and
    /// [`ScenarioError::in_file`].
    ///
    /// A message that names an unknown word and the ones allowed gets a
    /// "did you mean" help (see [`did_you_mean`]), unless given its own.
    pub(super) fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        ScenarioError {
            help: did_you_mean(&message),
            message,
            span: None,
            file_name: String::new(),
            source: String::new(),
        }
    }

    /// Sets the byte span the error is about.
    pub(super) fn at(mut self, span: Range<usize>) -> Self {
        self.span = Some(span);
        self
    }

    /// Adds a `= help: ...` line.
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Puts `prefix` in front of the message.
    pub(super) fn prefixed(mut self, prefix: &str) -> Self {
        self.message.insert_str(0, prefix);
        self
    }

    /// Attaches the file the error is about; the span is clamped to `source`.
    pub(super) fn in_file(mut self, file_name: &str, source: &str) -> Self {
        self.file_name = file_name.to_owned();
        self.source = source.to_owned();
        self.span = self.span.map(|span| normalize_span(source, span));
        self
    }

    /// The one-line description of the problem, without location
    /// (e.g. "unknown node `n7`: the cluster has nodes n0..n4").
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An optional hint on how to fix it.
    pub fn help_text(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// The file name given to [`parse`](super::parse) (or the path given to
    /// [`load`](super::load)).
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The byte range of the offending text in the file, if any.
    pub fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    /// 1-based line and column (in characters) where the problem starts, if
    /// it has a location. Matches the `--> file:line:col` of the report.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        self.span
            .as_ref()
            .map(|span| line_col(&self.source, span.start))
    }

    /// The full report; `color` adds ANSI styling for terminals.
    pub fn render(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let title = Level::ERROR.primary_title(self.message.as_str());
        let mut group = match &self.span {
            Some(span) => title.element(
                Snippet::source(self.source.as_str())
                    .path(self.file_name.as_str())
                    .annotation(AnnotationKind::Primary.span(span.clone())),
            ),
            None => title.element(Origin::path(self.file_name.as_str())),
        };
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        renderer.render(&[group])
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for ScenarioError {}

/// The help for a message that names an unknown word (the first
/// `backticked` word after its last "unknown ", or its first) and the
/// words allowed in its place (the list after "expected one of" or
/// "allowed:", comma-separated, backticked or not): "did you mean ...?"
/// with the allowed words closest to it, if any is close. Close is, in
/// this order: the same once case and `_`/`-` are set aside
/// (`work_thread_panic`); at most a third of its letters apart, counting a
/// swap of two as one (`node-crahs`, `restart_afer`); the allowed words
/// holding it whole (`crash`: `node-crash` or `engine-crash`); the longest
/// it starts with (`sec`: `s`).
pub(super) fn did_you_mean(message: &str) -> Option<String> {
    let (named, list) = ["expected one of:", "expected one of", "allowed:"]
        .iter()
        .find_map(|marker| message.split_once(marker))?;
    // (`invalid duration `10µs`: unknown unit `µs``: the unit.)
    let from = named.rfind("unknown ").unwrap_or(0);
    let (_, rest) = named[from..].split_once('`')?;
    let (word, _) = rest.split_once('`')?;
    let allowed: Vec<&str> = list
        .split(',')
        .map(|w| w.trim().trim_matches('`').trim_end_matches('.'))
        .filter(|w| !w.is_empty() && !w.contains(' '))
        .collect();
    let plain = |w: &str| w.to_lowercase().replace('_', "-").replace(['µ', 'μ'], "u");
    let wanted = plain(word);
    if wanted.is_empty() || allowed.contains(&word) {
        return None;
    }
    let same = allowed.iter().find(|a| plain(a) == wanted);
    let near = allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(&wanted, &plain(a)), a))
        .filter(|(d, _)| *d <= (wanted.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a);
    let holding: Vec<&str> = allowed
        .iter()
        .filter(|a| plain(a).split('-').any(|part| part == wanted))
        .copied()
        .collect();
    let prefix = allowed
        .iter()
        .filter(|a| wanted.starts_with(&plain(a)))
        .max_by_key(|a| a.len());
    let meant: Vec<&str> = match same.or(near) {
        Some(one) => vec![one],
        None if !holding.is_empty() => holding,
        None => prefix.into_iter().copied().collect(),
    };
    if meant.is_empty() {
        return None;
    }
    let named: Vec<String> = meant.iter().map(|a| format!("`{a}`")).collect();
    Some(format!("did you mean {}?", named.join(" or ")))
}

/// Converts a toml error (syntax, type, unknown key) into a [`ScenarioError`]
/// at toml's span, rewording serde's "field" as "key".
pub(super) fn from_toml(error: &toml::de::Error, source: &str) -> ScenarioError {
    let message = error.message().trim_end();
    let message = match message.strip_prefix("unknown field") {
        Some(rest) => format!("unknown key{rest}"),
        None => message.to_owned(),
    };
    // serde's type names mean nothing to someone writing TOML.
    let message = message
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected u64", "expected a whole number of 0 or more");
    // An integer past i64's range is read as an i128 that fits nothing.
    let message = match message
        .strip_prefix("invalid type: integer `")
        .and_then(|rest| rest.split_once("` as i128"))
    {
        Some((number, _)) => format!("the number `{number}` is too large for any key"),
        None => message,
    };
    let mut result = ScenarioError::new(message);
    if let Some(span) = error.span() {
        let text = source.get(span.clone()).unwrap_or("");
        if result.message.starts_with("unknown key")
            && ["name", "description", "seed", "duration"].contains(&text)
        {
            result = result.help(
                "top-level keys such as `name` and `duration` must come before the first [table] header",
            );
        }
        if result.message.contains("expected a sequence")
            && text.starts_with('[')
            && !text.starts_with("[[")
        {
            result = result.help(
                "jobs, faults and expectations are arrays of tables: write `[[job]]`, `[[fault]]`, `[[expect]]` with double brackets",
            );
        }
        // `[[cluster]]`, `[[random]]`: a table written as an array of them.
        if let Some(name) = text
            .strip_prefix("[[")
            .and_then(|t| t.strip_suffix("]]"))
            .map(str::trim)
            .filter(|n| !["job", "fault", "expect", "task"].contains(n))
        {
            result = result.help(format!(
                "`[{name}]` is one table: write it with single brackets"
            ));
        }
        result = result.at(span);
    }
    result
}

/// Makes `span` safe to render and meaningful to show: inside `source`, on
/// char boundaries, without trailing line breaks, and not starting on a line
/// break (an empty span at the very end of a file moves onto its last line).
pub(super) fn normalize_span(source: &str, span: Range<usize>) -> Range<usize> {
    let len = source.len();
    let mut start = span.start.min(len);
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, len);
    while !source.is_char_boundary(end) {
        end += 1;
    }
    let bytes = source.as_bytes();
    while end > start && matches!(bytes[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    if start == len {
        while start > 0 && matches!(bytes[start - 1], b'\n' | b'\r') {
            start -= 1;
        }
        end = start;
    }
    if start < len && matches!(bytes[start], b'\n' | b'\r') {
        end = start;
    }
    start..end
}

/// 1-based line and character column of byte `offset` in `source`.
pub(super) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Where each line of a file starts, to name the line of many offsets:
/// [`line_col`] reads the file up to its offset each time, which a file of
/// thousands of faults made quadratic (16,000 faults took 12 s to load).
pub(super) struct Lines(Vec<usize>);

impl Lines {
    pub(super) fn of(source: &str) -> Lines {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1));
        Lines(starts.collect())
    }

    /// The 1-based line of byte `offset`, as [`line_col`] counts it.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|start| *start <= offset)
    }
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    fn lines_name_the_line_line_col_names() {
        let text = "a = 1\nbé = \"x\"\n\n[[fault]]\nat = 2";
        let lines = Lines::of(text);
        for offset in 0..=text.len() + 3 {
            assert_eq!(
                lines.line(offset),
                line_col(text, offset).0,
                "offset {offset}"
            );
        }
    }

    fn line_col_counts_lines_and_characters() {
        let text = "a = 1\nb = \"é\" x\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, text.find('x').unwrap()), (2, 9));
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    fn normalize_span_keeps_spans_renderable() {
        let text = "abc\ndef\n";
        assert_eq!(normalize_span(text, 0..3), 0..3);
        assert_eq!(normalize_span(text, 100..200), 7..7);
        assert_eq!(normalize_span(text, 8..8), 7..7);
        assert_eq!(normalize_span(text, 4..8), 4..7);
        assert_eq!(normalize_span(text, 3..5), 3..3);
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 2..1;
        assert_eq!(normalize_span(text, reversed), 2..2);
        assert_eq!(normalize_span("", 0..5), 0..0);
        assert_eq!(normalize_span("é", 1..1), 0..2);
    }

    fn renders_like_rustc() {
        let text = "a = 1\nnode = \"n7\"\n";
        let error = ScenarioError::new("unknown node `n7`: the cluster has nodes n0..n4")
            .at(13..17)
            .in_file("scenarios/bad.toml", text);
        assert_eq!(error.line_col(), Some((2, 8)));
        let expected = "\
error: unknown node `n7`: the cluster has nodes n0..n4
 --> scenarios/bad.toml:2:8
  |
2 | node = \"n7\"
  |        ^^^^";
        assert_eq!(error.to_string(), expected);
    }

    fn renders_without_location() {
        let error = ScenarioError::new("cannot read the file").help("check the path");
        let error = error.in_file("x.toml", "");
        assert_eq!(error.line_col(), None);
        let rendered = error.to_string();
        assert!(
            rendered.starts_with("error: cannot read the file"),
            "{rendered}"
        );
        assert!(rendered.contains("x.toml"), "{rendered}");
        assert!(rendered.contains("help: check the path"), "{rendered}");
    }

    fn a_misspelt_word_gets_the_closest_allowed_one() {
        let kinds = "expected one of: work-thread-panic, job-kill, node-crash, engine-crash, heal";
        let help = |word: &str| did_you_mean(&format!("unknown fault kind `{word}`, {kinds}"));
        let meant = |word: &str| help(word).map(|h| h.replace("did you mean ", ""));
        assert_eq!(meant("node-crahs").as_deref(), Some("`node-crash`?"));
        assert_eq!(
            meant("work_thread_panic").as_deref(),
            Some("`work-thread-panic`?")
        );
        assert_eq!(meant("Job-Kill").as_deref(), Some("`job-kill`?"));
        assert_eq!(
            meant("crash").as_deref(),
            Some("`node-crash` or `engine-crash`?")
        );
        assert_eq!(meant("healing").as_deref(), Some("`heal`?"));
        // Nothing close: no guess; a word that is allowed: nothing to say.
        assert_eq!(help("partition"), None);
        assert_eq!(help("heal"), None);
        // The unknown word is the one after "unknown", and the list may be
        // backticked or follow "allowed:".
        let unit = "invalid duration `10µs` for `duration`: unknown unit `µs`; expected one of: ns, us, ms, s, m, h";
        assert_eq!(did_you_mean(unit).as_deref(), Some("did you mean `us`?"));
        let key = "key `restart_afer` is not allowed for kind `node-crash`; allowed: node, restart_after, lose_disk";
        assert_eq!(
            did_you_mean(key).as_deref(),
            Some("did you mean `restart_after`?")
        );
        let top = "unknown key `nmae`, expected one of `name`, `description`, `seed`";
        assert_eq!(did_you_mean(top).as_deref(), Some("did you mean `name`?"));
        // Without a list of allowed words, there is nothing to pick from.
        assert_eq!(
            did_you_mean("unknown node `n7`: the cluster has nodes n0..n4"),
            None
        );
        // A help given to the error replaces the guess.
        let given = ScenarioError::new("unknown key `nmae`, expected one of `name`").help("mine");
        assert_eq!(given.help_text(), Some("mine"));
        assert_eq!(
            ScenarioError::new(top).help_text(),
            Some("did you mean `name`?")
        );
    }

    unit_tests![
        a_misspelt_word_gets_the_closest_allowed_one,
        lines_name_the_line_line_col_names,
        line_col_counts_lines_and_characters,
        normalize_span_keeps_spans_renderable,
        renders_like_rustc,
        renders_without_location,
    ];
}
