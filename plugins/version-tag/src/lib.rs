//! A test plugin, not an example: adds `version`, naming the build that
//! processed the row (`v1`, or `v2` when built with the `v2` feature), so the
//! hot-swap tests can check which version processed each event.

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::{Map, NoConfig};

#[derive(Debug, Serialize, Deserialize)]
pub struct Row {
    pub seq: i64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Tagged {
    pub version: String,
}

pub const VERSION: &str = if cfg!(feature = "v2") { "v2" } else { "v1" };

pub struct VersionTag;

impl Map for VersionTag {
    type Config = NoConfig;
    type In = Row;
    type Out = Tagged;

    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(Self)
    }

    fn map(&mut self, _: Row) -> Tagged {
        Tagged {
            version: VERSION.into(),
        }
    }
}

weir_plugin_sdk::export_map!(VersionTag);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin_sdk::testing;

    #[test]
    fn tags_every_row_with_its_build() {
        let mut plugin = testing::map::<VersionTag>("{}").unwrap();
        let out = plugin.run(&[Row { seq: 1 }, Row { seq: 2 }]).unwrap();
        assert!(out.iter().all(|(_, t)| t.version == VERSION));
        assert_eq!(out.len(), 2);
    }
}
