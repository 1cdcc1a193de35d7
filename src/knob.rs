//! A setting given by Kafka's name and a text value, read with errors that
//! name both (`log.segment.bytes=-5: must be between 1 and 2147483647`).

/// `name` set to `value`, about to be read into a typed setting.
#[derive(Clone, Copy)]
pub struct Knob<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl Knob<'_> {
    /// The error for this setting: `name=value: why`.
    pub fn bad(&self, why: &str) -> String {
        format!("{}={}: {why}", self.name, self.value)
    }

    /// An integer within `min..=max`.
    pub fn int(&self, min: i64, max: i64) -> Result<i64, String> {
        match self.value.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(_) => Err(self.bad(&format!("must be between {min} and {max}"))),
            Err(_) => Err(self.bad("not an integer")),
        }
    }

    pub fn boolean(&self) -> Result<bool, String> {
        parse_bool(self.value).ok_or_else(|| self.bad("not a boolean"))
    }
}

/// Kafka's spelling of a boolean setting.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}
