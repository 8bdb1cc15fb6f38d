//! What is wrong with a request, field by field: the domain's rules report
//! every bad field at once, and the platform maps them to INVALID_ARGUMENT
//! (`relais_platform::error`). It lives here, below the platform, so that
//! the domain's rules depend on nothing but the protos.

/// A bad field of a request: which one and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Collects field violations, so a request reports every bad field at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Adds the violation when `bad` holds.
    pub fn check(&mut self, bad: bool, field: &str, description: impl Into<String>) {
        if bad {
            self.add(field, description);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many so far: a parser compares it before and after a part.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `Err(self)` when any field is bad; `?` turns it into the caller's
    /// error (INVALID_ARGUMENT with every field, in the platform).
    pub fn into_result(self) -> Result<(), Violations> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// One bad field.
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Self::new();
        v.add(field, description);
        v
    }

    pub fn into_fields(self) -> Vec<FieldViolation> {
        self.0
    }
}
