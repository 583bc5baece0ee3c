//! Just enough PromQL to list the series an expression selects: a scanner that skips strings,
//! numbers and durations, range brackets and grouping label lists, knows PromQL's functions,
//! aggregations and keywords, and reports every other identifier as a metric name (with the
//! label matchers that follow it). Unknown functions and unbalanced brackets are errors, so a
//! typo in a function name is caught as well as one in a metric name.

/// One vector selector: `name{label="value", ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name.
    pub name: String,
    /// `(label, value)` of each matcher, whatever its operator.
    pub matchers: Vec<(String, String)>,
}

/// What an expression selects.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Every vector selector, in order of appearance.
    pub metrics: Vec<Selector>,
}

const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "deg",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "end",
    "exp",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "mad_over_time",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_by_label",
    "sort_by_label_desc",
    "sort_desc",
    "sqrt",
    "start",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

const OTHER_KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

struct Scanner<'a> {
    chars: Vec<char>,
    at: usize,
    expr: &'a str,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.at;
        while self.peek().is_some_and(&keep) {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at character {} of {:?}", self.at, self.expr)
    }

    /// A quoted string starting at the current quote; returns its content.
    fn string(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or_else(|| self.error("expected a string"))?;
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some('\\') if quote != '`' => {
                    self.at += 1;
                    out.extend(self.peek());
                }
                Some(c) if c == quote => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
            self.at += 1;
        }
    }

    /// `{label op "value", ...}` starting at `{`.
    fn matchers(&mut self) -> Result<Vec<(String, String)>, String> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some('}') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(',') => self.at += 1,
                Some(c) if is_ident_start(c) => {
                    let label = self.take_while(is_ident_char);
                    self.skip_space();
                    let op = self.take_while(|c| matches!(c, '=' | '!' | '~'));
                    if !matches!(op.as_str(), "=" | "!=" | "=~" | "!~") {
                        return Err(self.error("expected a label matcher operator"));
                    }
                    self.skip_space();
                    out.push((label, self.string()?));
                }
                _ => return Err(self.error("malformed label matchers")),
            }
        }
    }

    /// Skips from an opening bracket to its match.
    fn skip_group(&mut self, open: char, close: char) -> Result<(), String> {
        let mut depth = 0;
        loop {
            match self.peek() {
                None => return Err(self.error(&format!("unclosed {open:?}"))),
                Some(c) if c == open => depth += 1,
                Some(c) if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Lists the vector selectors of `expr`.
pub fn parse(expr: &str) -> Result<Parsed, String> {
    let mut s = Scanner {
        chars: expr.chars().collect(),
        at: 0,
        expr,
    };
    let mut parsed = Parsed::default();
    let mut depth: i32 = 0;
    // Index of the selector a following `{...}` belongs to.
    let mut open_selector: Option<usize> = None;
    while let Some(c) = s.peek() {
        if c.is_whitespace() {
            s.at += 1;
            continue;
        }
        let selector = open_selector.take();
        match c {
            '#' => {
                s.take_while(|c| c != '\n');
            }
            '"' | '\'' | '`' => {
                s.string()?;
            }
            '{' => {
                let matchers = s.matchers()?;
                match selector {
                    Some(i) => parsed.metrics[i].matchers = matchers,
                    None => return Err(s.error("a selector without a metric name")),
                }
            }
            '[' => s.skip_group('[', ']')?,
            '(' => {
                depth += 1;
                s.at += 1;
            }
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(s.error("unbalanced ')'"));
                }
                s.at += 1;
            }
            c if c.is_ascii_digit() || c == '.' => {
                s.take_while(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
            }
            c if is_ident_start(c) => {
                let word = s.take_while(is_ident_char);
                let lower = word.to_ascii_lowercase();
                s.skip_space();
                let call = s.peek() == Some('(');
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    if call {
                        s.skip_group('(', ')')?;
                    }
                } else if OTHER_KEYWORDS.contains(&lower.as_str())
                    || AGGREGATIONS.contains(&lower.as_str())
                {
                } else if call {
                    if !FUNCTIONS.contains(&word.as_str()) {
                        return Err(s.error(&format!("unknown function {word:?}")));
                    }
                } else {
                    parsed.metrics.push(Selector {
                        name: word,
                        matchers: Vec::new(),
                    });
                    open_selector = Some(parsed.metrics.len() - 1);
                }
            }
            _ => s.at += 1,
        }
    }
    if depth != 0 {
        return Err(s.error("unbalanced '('"));
    }
    Ok(parsed)
}

#[test]
fn selects_metrics_not_labels_functions_or_keywords() {
    let p = parse(
        r#"histogram_quantile(0.99, sum by (le, webhook) (rate(a_bucket{webhook="v", x=~"a|b"}[5m])))
           > 0.1 and on (job) absent(up{job="j"}) unless sum without (x) (b offset 5m) * 14 * 24e3
           or label_replace(c, "dst", "$1", "src", "(.*)")  # a comment names_nothing"#,
    )
    .expect("parses");
    let names: Vec<&str> = p.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["a_bucket", "up", "b", "c"]);
    assert_eq!(
        p.metrics[0].matchers,
        [
            ("webhook".to_owned(), "v".to_owned()),
            ("x".to_owned(), "a|b".to_owned())
        ]
    );
    assert_eq!(p.metrics[1].matchers, [("job".to_owned(), "j".to_owned())]);
}

#[test]
fn refuses_unknown_functions_and_unbalanced_input() {
    assert!(
        parse("rat(x[5m])")
            .unwrap_err()
            .contains("unknown function \"rat\"")
    );
    assert!(parse("sum(rate(x[5m])").is_err());
    assert!(parse("x{job=\"a}").is_err());
    assert!(parse("{job=\"a\"}").is_err());
}
