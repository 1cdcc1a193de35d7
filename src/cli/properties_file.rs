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
