//! Kafka's `.properties` files: `key=value` (or `key: value`) lines, `#` and
//! `!` comments. Enough of the format for broker, producer and consumer
//! configuration files.

/// The `(key, value)` pairs of a properties file, each with its line number.
pub fn parse(path: &str, text: &str) -> Result<Vec<(usize, String, String)>, String> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some(split) = line.find(['=', ':']) else {
            return Err(format!(
                "{path}:{line_no}: expected key=value, found \"{line}\""
            ));
        };
        let (key, value) = (line[..split].trim(), line[split + 1..].trim());
        if key.is_empty() {
            return Err(format!(
                "{path}:{line_no}: a key is missing before '{}'",
                &line[split..=split]
            ));
        }
        pairs.push((line_no, key.to_string(), value.to_string()));
    }
    Ok(pairs)
}

/// Applies the settings of `--config FILE` and then of each `--set
/// KEY=VALUE` through `set`; an error names the file and line, or the
/// `--set`, and the knob.
pub fn apply_settings(
    config: Option<&str>,
    sets: &[String],
    mut set: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    if let Some(path) = config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        for (line, knob, value) in parse(path, &text)? {
            set(&knob, &value).map_err(|e| format!("{path}:{line}: {e}"))?;
        }
    }
    for pair in sets {
        let (knob, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--set {pair}: expected KNOB=VALUE"))?;
        set(knob.trim(), value.trim()).map_err(|e| format!("--set {e}"))?;
    }
    Ok(())
}

/// The model's knobs one source gave (a file, or the `--set` flags), for
/// what `Config::set` cannot see: a knob given twice with different values,
/// where the last silently wins, is warned about; two knobs that say one
/// thing (whether the consumer commits by itself) and disagree are refused.
/// A `--set` overriding the file is what `--set` is for: each source is
/// noted apart.
pub struct KnobsGiven {
    /// The file's path, or `--set`.
    source: String,
    /// Each knob as given, with its value and line (none for `--set`).
    given: Vec<(String, String, Option<usize>)>,
}

/// Knobs spelled two ways in Kafka.
const SAME_KNOB: &[(&str, &str)] = &[("default.replication.factor", "replication.factor")];

/// Whether a commit knob's value makes the consumer commit by itself; `None`
/// for every other knob. Called once `Config::set` took the value.
fn auto_commits(knob: &str, value: &str) -> Option<bool> {
    match knob {
        "enable.auto.commit" => Some(value == "true"),
        "consumer.commit" => Some(matches!(value, "auto" | "auto-handoff")),
        _ => None,
    }
}

impl KnobsGiven {
    pub fn new(source: &str) -> KnobsGiven {
        KnobsGiven {
            source: source.to_string(),
            given: Vec::new(),
        }
    }

    /// Notes `knob=value` (at `line` of a file), warning on stderr if it
    /// repeats a knob with another value; an error if it contradicts a
    /// knob given before.
    pub fn note(&mut self, line: Option<usize>, knob: &str, value: &str) -> Result<(), String> {
        let canonical = |k: &str| {
            SAME_KNOB
                .iter()
                .find(|(alias, _)| *alias == k)
                .map_or(k.to_string(), |(_, name)| name.to_string())
        };
        let here = match line {
            Some(n) => format!("{}:{n}:", self.source),
            None => self.source.clone(),
        };
        let on_line = |l: &Option<usize>| l.map_or(String::new(), |n| format!(" on line {n}"));
        let last_of = |k: &str| {
            self.given
                .iter()
                .rev()
                .find(|(g, _, _)| canonical(g) == canonical(k))
        };
        if let Some((earlier, before, at)) = last_of(knob) {
            if before != value {
                eprintln!(
                    "kafka-oracle: warning: {here} {} given twice, {earlier}={before}{} then {knob}={value}: the last is checked",
                    canonical(knob),
                    on_line(at)
                );
            }
        }
        if let Some(auto) = auto_commits(knob, value) {
            let other = if knob == "enable.auto.commit" {
                "consumer.commit"
            } else {
                "enable.auto.commit"
            };
            if let Some((_, before, at)) = last_of(other) {
                if auto_commits(other, before) != Some(auto) {
                    return Err(format!(
                        "{here} {knob}={value} contradicts {other}={before}{}: both say whether the consumer commits by itself; give one, or two that agree",
                        on_line(at)
                    ));
                }
            }
        }
        self.given.push((knob.to_string(), value.to_string(), line));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_pairs_and_skips_comments() {
        let text = "# broker\nacks = all\n! note\n\nmin.insync.replicas:2\n";
        let pairs = parse("f", text).unwrap();
        assert_eq!(
            pairs,
            vec![
                (2, "acks".to_string(), "all".to_string()),
                (5, "min.insync.replicas".to_string(), "2".to_string())
            ]
        );
    }

    #[test]
    fn names_file_and_line_of_a_bad_line() {
        let err = parse("server.properties", "acks=1\nnonsense\n").unwrap_err();
        assert_eq!(
            err,
            "server.properties:2: expected key=value, found \"nonsense\""
        );
        let err = parse("p", "=3").unwrap_err();
        assert!(err.starts_with("p:1: a key is missing"), "{err}");
    }
}
