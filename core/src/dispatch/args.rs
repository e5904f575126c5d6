//! Typed command arguments on top of clap's builder API.

use std::{any::Any, fmt::Write as _, time::Duration};

use clap::{
    ArgAction, ArgMatches,
    error::{ContextKind, ContextValue, ErrorKind},
};

use crate::TaskId;

/// One argument of a [`Command`](super::Command): a positional value, an
/// option (`-f/--filter TEXT`) or a flag (`--json`).
///
/// The constructors pick the value type; the other methods refine it:
///
/// ```
/// use monitor_core::dispatch::Arg;
///
/// let task = Arg::task_id("TASK_ID").help("the task to show");
/// let depth = Arg::int("DEPTH").optional();
/// let names = Arg::string("NAME").variadic();
/// let json = Arg::flag("json").short('j');
/// let filter = Arg::option("filter", "TEXT").short('f');
/// let every = Arg::duration("interval").long("every");
/// ```
///
/// Positional arguments are required until [`Arg::optional`] is called;
/// options and flags are optional. The name is what [`Args::get`] looks the
/// value up by. A value type the helpers do not cover takes [`Arg::parsed`]
/// with a parsing function of its own; a fixed set of words takes
/// [`Arg::choice`].
#[derive(Debug, Clone)]
pub struct Arg {
    inner: clap::Arg,
}

impl Arg {
    fn typed(name: &str, parser: impl Into<clap::builder::ValueParser>) -> Self {
        Self {
            inner: clap::Arg::new(name.to_owned())
                .value_name(name.to_owned())
                .required(true)
                .action(ArgAction::Set)
                .value_parser(parser),
        }
    }

    /// A text value, read back as `String`.
    pub fn string(name: &str) -> Self {
        Self::typed(name, parse_string)
    }

    /// A whole number, read back as `i64`. Negative numbers are accepted.
    pub fn int(name: &str) -> Self {
        let arg = Self::typed(name, parse_int);
        Self {
            inner: arg.inner.allow_negative_numbers(true),
        }
    }

    /// A task id such as `42` or `#42`, read back as [`TaskId`].
    pub fn task_id(name: &str) -> Self {
        Self::typed(name, parse_task_id)
    }

    /// A duration such as `500ms`, `2s`, `1m` or `1m30s`, read back as
    /// [`Duration`]. See [`parse_duration`] for the accepted units.
    pub fn duration(name: &str) -> Self {
        Self::typed(name, parse_duration_arg)
    }

    /// One of a fixed set of words, read back as `String`. Anything else is
    /// refused with a message listing the accepted words.
    ///
    /// ```
    /// use monitor_core::dispatch::Arg;
    ///
    /// let order = Arg::choice("sort", &["id", "age", "busy"]).long("sort");
    /// ```
    pub fn choice(name: &str, words: &[&str]) -> Self {
        let words: Vec<clap::builder::PossibleValue> = words
            .iter()
            .map(|word| clap::builder::PossibleValue::new(word.to_string()))
            .collect();
        Self::typed(name, clap::builder::PossibleValuesParser::new(words))
    }

    /// A value of any type `T`, read back as `T`, parsed by `parse`. The
    /// parser's error text is shown to the user as the reason the value was
    /// refused, so it should say what is accepted.
    ///
    /// ```
    /// use monitor_core::dispatch::Arg;
    ///
    /// let level = Arg::parsed("LEVEL", |text: &str| {
    ///     text.parse::<u8>()
    ///         .map_err(|_| format!("expected a level from 0 to 255, got {text:?}"))
    /// });
    /// ```
    pub fn parsed<T, P>(name: &str, parse: P) -> Self
    where
        T: Any + Clone + Send + Sync + 'static,
        P: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
    {
        Self::typed(name, move |text: &str| parse(text))
    }

    /// An on/off switch `--NAME`, read back with [`Args::flag`].
    pub fn flag(name: &str) -> Self {
        Self {
            inner: clap::Arg::new(name.to_owned())
                .long(name.to_owned())
                .action(ArgAction::SetTrue),
        }
    }

    /// A text option `--NAME VALUE_NAME`, read back as `String`.
    pub fn option(name: &str, value_name: &str) -> Self {
        Self::string(name).long(name).value_name(value_name)
    }

    /// Makes this argument an option given as `--long VALUE` (optional unless
    /// [`Arg::required`] is called afterwards).
    pub fn long(self, long: &str) -> Self {
        Self {
            inner: self.inner.long(long.to_owned()).required(false),
        }
    }

    /// Adds a one-letter spelling (`-j`) to an option or flag.
    pub fn short(self, short: char) -> Self {
        Self {
            inner: self.inner.short(short),
        }
    }

    /// Sets the placeholder shown in usage and help (`TEXT` in
    /// `--filter TEXT`).
    pub fn value_name(self, value_name: &str) -> Self {
        Self {
            inner: self.inner.value_name(value_name.to_owned()),
        }
    }

    /// One line describing the argument, shown by `help CMD`.
    pub fn help(self, help: &str) -> Self {
        Self {
            inner: self.inner.help(help.to_owned()),
        }
    }

    /// Lets the argument be left out; [`Args::get`] then returns `None`.
    pub fn optional(self) -> Self {
        Self {
            inner: self.inner.required(false),
        }
    }

    /// Makes the argument mandatory (positionals already are).
    pub fn required(self) -> Self {
        Self {
            inner: self.inner.required(true),
        }
    }

    /// Takes every remaining value (`NAME...`); read back with
    /// [`Args::get_all`]. Combine with [`Arg::optional`] to accept none.
    /// Only the last positional argument may be variadic.
    pub fn variadic(self) -> Self {
        Self {
            inner: self.inner.num_args(1..).action(ArgAction::Append),
        }
    }

    /// The value used when the argument is left out.
    pub fn default_value(self, value: &str) -> Self {
        Self {
            inner: self.inner.default_value(value.to_owned()).required(false),
        }
    }

    /// What this argument takes, for a program that builds input for it
    /// (the web UI draws a typed form field from it).
    ///
    /// ```
    /// use monitor_core::dispatch::{Arg, ArgKind};
    ///
    /// let info = Arg::int("COUNT").optional().info();
    /// assert_eq!(info.name, "COUNT");
    /// assert_eq!(info.kind, ArgKind::Int);
    /// assert!(!info.required && info.long.is_none());
    /// let sort = Arg::choice("sort", &["id", "age"]).long("sort").info();
    /// assert_eq!(sort.kind, ArgKind::Choice(vec!["id".into(), "age".into()]));
    /// assert_eq!(sort.long.as_deref(), Some("sort"));
    /// ```
    pub fn info(&self) -> ArgInfo {
        use std::any::TypeId;
        let arg = &self.inner;
        let choices: Vec<String> = arg
            .get_possible_values()
            .iter()
            .map(|value| value.get_name().to_owned())
            .collect();
        let kind = if matches!(arg.get_action(), ArgAction::SetTrue) {
            ArgKind::Flag
        } else if !choices.is_empty() {
            ArgKind::Choice(choices)
        } else {
            let parsed = arg.get_value_parser().type_id();
            if parsed == TypeId::of::<i64>() {
                ArgKind::Int
            } else if parsed == TypeId::of::<TaskId>() {
                ArgKind::TaskId
            } else if parsed == TypeId::of::<Duration>() {
                ArgKind::Duration
            } else if parsed == TypeId::of::<String>() {
                ArgKind::Text
            } else {
                ArgKind::Other
            }
        };
        ArgInfo {
            name: arg.get_id().to_string(),
            value_name: arg
                .get_value_names()
                .and_then(|names| names.first())
                .map(ToString::to_string),
            help: arg.get_help().map(ToString::to_string),
            long: arg.get_long().map(str::to_owned),
            required: arg.is_required_set(),
            variadic: arg
                .get_num_args()
                .is_some_and(|range| range.max_values() > 1),
            default: arg
                .get_default_values()
                .first()
                .map(|value| value.to_string_lossy().into_owned()),
            kind,
        }
    }

    pub(crate) fn into_clap(self) -> clap::Arg {
        self.inner
    }
}

/// The value type of an [`Arg`], as [`Arg::info`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", content = "choices", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ArgKind {
    /// [`Arg::string`], [`Arg::option`].
    Text,
    /// [`Arg::int`].
    Int,
    /// [`Arg::task_id`].
    TaskId,
    /// [`Arg::duration`].
    Duration,
    /// [`Arg::choice`], with its words.
    Choice(Vec<String>),
    /// [`Arg::flag`]: given or not.
    Flag,
    /// [`Arg::parsed`]: text the command's own parser reads.
    Other,
}

/// What an [`Arg`] takes: its name, type and how it is given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ArgInfo {
    /// The name [`Args::get`] reads it by.
    pub name: String,
    /// The value type.
    #[serde(flatten)]
    pub kind: ArgKind,
    /// The placeholder shown in usage (`TEXT` in `--filter TEXT`).
    pub value_name: Option<String>,
    /// Its one-line help.
    pub help: Option<String>,
    /// For an option or a flag, its long name (`--long`); `None` for a
    /// positional argument.
    pub long: Option<String>,
    /// Whether it must be given.
    pub required: bool,
    /// Whether it takes every remaining value.
    pub variadic: bool,
    /// The value used when it is left out.
    pub default: Option<String>,
}

/// The typed values of one command invocation.
#[derive(Debug, Clone)]
pub struct Args {
    matches: ArgMatches,
    words: Vec<String>,
}

impl Args {
    pub(crate) fn new(matches: ArgMatches, words: Vec<String>) -> Self {
        Self { matches, words }
    }

    /// The value of argument `name`, or `None` when it was left out.
    ///
    /// `T` is the type the argument was declared with (`String` for
    /// [`Arg::string`], `i64` for [`Arg::int`], [`TaskId`], [`Duration`]).
    ///
    /// # Panics
    ///
    /// When the command declares no argument `name`, or declares it with a
    /// different type. Both are bugs in the command definition; the
    /// dispatcher reports the panic as a one-line error and the session goes
    /// on.
    pub fn get<T: Any + Clone + Send + Sync + 'static>(&self, name: &str) -> Option<T> {
        match self.matches.try_get_one::<T>(name) {
            Ok(value) => value.cloned(),
            Err(err) => panic!("argument {name:?}: {err}"),
        }
    }

    /// Every value of a variadic argument, in order; empty when none was
    /// given.
    ///
    /// # Panics
    ///
    /// Like [`Args::get`].
    pub fn get_all<T: Any + Clone + Send + Sync + 'static>(&self, name: &str) -> Vec<T> {
        match self.matches.try_get_many::<T>(name) {
            Ok(values) => values.map(|v| v.cloned().collect()).unwrap_or_default(),
            Err(err) => panic!("argument {name:?}: {err}"),
        }
    }

    /// Whether flag `name` was given.
    ///
    /// # Panics
    ///
    /// Like [`Args::get`].
    pub fn flag(&self, name: &str) -> bool {
        self.get::<bool>(name).unwrap_or(false)
    }

    /// The words after the command name, after shell-style splitting.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

fn parse_string(s: &str) -> Result<String, String> {
    Ok(s.to_owned())
}

fn parse_int(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| format!("invalid integer {s:?} (expected a whole number such as 10)"))
}

fn parse_task_id(s: &str) -> Result<TaskId, String> {
    s.parse::<TaskId>().map_err(|err| err.to_string())
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| {
        format!("invalid duration {s:?} (expected a number with a unit such as 500ms, 2s or 1m)")
    })
}

/// Parses a duration such as `500ms`, `2s`, `1.5s`, `1m` or `1h30m`.
///
/// Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. Every number needs a
/// unit, so `5` is refused rather than guessed. Returns `None` for anything
/// else, including values too large for [`Duration`].
///
/// ```
/// use std::time::Duration;
/// use monitor_core::dispatch::parse_duration;
///
/// assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
/// assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
/// assert_eq!(parse_duration("5"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let nanos_per_unit: f64 = match unit.trim() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        // `parse::<f64>` alone would also take "inf", "1e9" and the like.
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let part = Duration::try_from_secs_f64(value * nanos_per_unit / 1e9).ok()?;
        total = total.checked_add(part)?;
        rest = tail.trim_start();
    }
    Some(total)
}

/// Formats a duration the way users type them: `5s`, `100ms`, `1m30s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if nanos == 0 && secs > 0 {
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let mut out = String::new();
        for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
            if value > 0 {
                let _ = write!(out, "{value}{unit}");
            }
        }
        out
    } else if secs == 0 && nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else {
        format!("{:?}", d)
    }
}

/// Whether `arg` is clap's automatic `-h/--help`, which usage and argument
/// lists leave out.
fn is_help(arg: &clap::Arg) -> bool {
    matches!(
        arg.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong
    )
}

fn takes_value(arg: &clap::Arg) -> bool {
    arg.get_action().takes_values()
}

fn is_variadic(arg: &clap::Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

fn value_name(arg: &clap::Arg) -> String {
    arg.get_value_names()
        .and_then(|names| names.first())
        .map(|name| name.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

/// The spelling of an option or flag: `--json`, `-j` or `--filter TEXT`.
fn option_spelling(arg: &clap::Arg) -> String {
    let mut out = match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => arg.get_id().as_str().to_owned(),
    };
    if takes_value(arg) {
        out.push(' ');
        out.push_str(&value_name(arg));
    }
    out
}

/// The argument part of the usage line, e.g. `[--json] TASK_ID [NAME...]`:
/// options and flags first, then positionals in order.
pub(crate) fn arg_list(cmd: &clap::Command) -> String {
    let mut parts = Vec::new();
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !is_help(a))
    {
        let spelling = option_spelling(arg);
        parts.push(if arg.is_required_set() {
            spelling
        } else {
            format!("[{spelling}]")
        });
    }
    for arg in cmd.get_positionals() {
        let mut name = value_name(arg);
        if is_variadic(arg) {
            name.push_str("...");
        }
        parts.push(if arg.is_required_set() {
            name
        } else {
            format!("[{name}]")
        });
    }
    parts.join(" ")
}

/// One line per argument with its help text, for `{arg_help}`.
pub(crate) fn arg_help(cmd: &clap::Command) -> String {
    let rows: Vec<(String, String)> = cmd
        .get_positionals()
        .map(|arg| (value_name(arg), arg))
        .chain(
            cmd.get_arguments()
                .filter(|a| !a.is_positional() && !is_help(a))
                .map(|arg| {
                    let spelling = match (arg.get_short(), arg.get_long()) {
                        (Some(short), Some(_)) => format!("-{short}, {}", option_spelling(arg)),
                        _ => option_spelling(arg),
                    };
                    (spelling, arg)
                }),
        )
        .map(|(left, arg)| {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            (left, help)
        })
        .collect();
    let width = rows
        .iter()
        .map(|(left, _)| left.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (left, help) in rows {
        let line = format!("  {left:width$}  {help}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What a clap parse failure means for the user, in one line without the
/// usage (the caller appends it).
pub(crate) fn condense_clap_error(err: &clap::Error) -> String {
    let context_string = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    // clap names arguments `<TASK_ID>` or `<WORDS>...`; the usage line we
    // show spells them `TASK_ID` and `WORDS...`, so the message names them
    // the same way.
    let arg = || {
        let plain = |a: &str| a.replace(['<', '>'], "").trim_end_matches("...").to_owned();
        match err.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(a)) => plain(a),
            Some(ContextValue::Strings(all)) => all
                .iter()
                .map(|a| plain(a))
                .collect::<Vec<_>>()
                .join(" and "),
            _ => "an argument".to_owned(),
        }
    };
    let value = || context_string(ContextKind::InvalidValue).unwrap_or_default();
    match err.kind() {
        ErrorKind::ValueValidation => match std::error::Error::source(err) {
            // Our own parsers already say what was wrong and what is
            // accepted; a raw clap parser's message needs the context.
            Some(source) if source.to_string().starts_with("invalid ") => source.to_string(),
            Some(source) => format!("invalid value {:?} for {}: {source}", value(), arg()),
            None => format!("invalid value {:?} for {}", value(), arg()),
        },
        ErrorKind::MissingRequiredArgument => format!("missing {}", arg()),
        ErrorKind::UnknownArgument => {
            let arg = context_string(ContextKind::InvalidArg).unwrap_or_default();
            if arg.starts_with('-') && arg.len() > 1 {
                format!("unknown option {arg}")
            } else {
                format!("unexpected extra argument {arg:?}")
            }
        }
        ErrorKind::TooManyValues => format!("unexpected extra argument {:?}", value()),
        ErrorKind::InvalidValue => {
            let valid = context_string(ContextKind::ValidValue).unwrap_or_default();
            if value().is_empty() {
                format!("{} needs a value", arg())
            } else {
                format!(
                    "invalid value {:?} for {} (expected one of: {valid})",
                    value(),
                    arg()
                )
            }
        }
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues | ErrorKind::NoEquals => {
            format!("wrong number of values for {}", arg())
        }
        ErrorKind::ArgumentConflict => {
            let prior = context_string(ContextKind::PriorArg).unwrap_or_default();
            format!("{} cannot be used with {prior}", arg())
        }
        _ => {
            // Anything else: clap's first line without its `error: ` prefix.
            let text = err.to_string();
            let first = text.lines().next().unwrap_or_default();
            first
                .strip_prefix("error: ")
                .unwrap_or(first)
                .trim()
                .to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("500ms"), Some(ms(500)));
        assert_eq!(parse_duration("2s"), Some(ms(2000)));
        assert_eq!(parse_duration("1.5s"), Some(ms(1500)));
        assert_eq!(parse_duration("1m"), Some(ms(60_000)));
        assert_eq!(parse_duration("1h 2m 3s"), Some(ms(3_723_000)));
        assert_eq!(parse_duration("10us"), Some(Duration::from_micros(10)));
        for bad in [
            "",
            "5",
            "s",
            "5x",
            "-1s",
            "1e3s",
            "inf s",
            "1..2s",
            ".s",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_format_like_they_are_typed() {
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
    }

    #[test]
    fn usage_lists_options_then_positionals() {
        let cmd = clap::Command::new("x")
            .arg(Arg::flag("json").short('j').into_clap())
            .arg(Arg::option("filter", "TEXT").into_clap())
            .arg(Arg::task_id("TASK_ID").into_clap())
            .arg(Arg::string("NAME").optional().variadic().into_clap());
        assert_eq!(arg_list(&cmd), "[--json] [--filter TEXT] TASK_ID [NAME...]");
    }
}
