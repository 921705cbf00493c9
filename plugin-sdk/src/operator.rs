use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A configuration for plugins that take none. Accepts an empty table and
/// rejects any key, so a typo in the pipeline file is not silently ignored.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Keeps or drops each row. The kept rows continue unchanged, with every field
/// they had — including fields the filter does not read.
pub trait Filter: Sized {
    /// The plugin's configuration, deserialized from the `config` table of its
    /// `[[operators]]` entry in the pipeline file.
    type Config: DeserializeOwned;
    /// The fields this filter reads. Declares the plugin's input schema.
    type Row: DeserializeOwned;

    /// Builds the filter from its configuration; an `Err` rejects the
    /// configuration and the message is shown to the user.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Whether `row` continues down the pipeline.
    fn keep(&mut self, row: &Self::Row) -> bool;
}

/// Turns each row into exactly one output row. The output's fields are added to
/// the input row, replacing input fields of the same name.
pub trait Map: Sized {
    /// The plugin's configuration.
    type Config: DeserializeOwned;
    /// The fields this map reads.
    type In: DeserializeOwned;
    /// The fields this map emits. `Deserialize` is needed only to derive the schema.
    type Out: Serialize + DeserializeOwned;

    /// Builds the map from its configuration.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Maps one row.
    fn map(&mut self, row: Self::In) -> Self::Out;
}

/// Turns each row into zero or more output rows, each added to (a copy of) the
/// input row it came from. Alerts are flat-maps that emit when a condition holds.
pub trait FlatMap: Sized {
    /// The plugin's configuration.
    type Config: DeserializeOwned;
    /// The fields this operator reads.
    type In: DeserializeOwned;
    /// The fields this operator emits. `Deserialize` is needed only to derive the schema.
    type Out: Serialize + DeserializeOwned;

    /// Builds the operator from its configuration.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Processes one row, emitting any number of output rows through `out`.
    fn flat_map(&mut self, row: Self::In, out: &mut Emitter<'_, Self::Out>);
}

/// Collects the rows a [`FlatMap`] emits for one input row.
pub struct Emitter<'a, T> {
    pub(crate) rows: &'a mut Vec<T>,
}

impl<T> Emitter<'_, T> {
    /// Emits one output row derived from the current input row.
    pub fn emit(&mut self, row: T) {
        self.rows.push(row);
    }
}
